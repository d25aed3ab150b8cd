-- One row per title: the catalog as of its latest load, for joining facts to franchises.
with titles as (
    select * from {{ ref('stg_title_metadata') }}
)

select
    title_id,
    title_name,
    franchise,
    genre,
    release_date,
    imdb_score,
    runtime_minutes,
    mpaa_rating,
    budget_usd
from titles
