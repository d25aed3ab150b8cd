-- One row per title from the latest catalog row loaded (highest _ingest_seq), typed.
-- An IMDB score outside 0-10 is kept as NULL rather than dropping the title.
with raw_titles as (
    select * from {{ source('raw', 'RAW_TITLE_METADATA') }}
),

latest_rows as (
    select *
    from raw_titles
    where title_id is not null
    {{ qualify_first('title_id', '_ingest_seq desc') }}
),

typed as (
    select
        title_id,
        title_name,
        franchise,
        genre,
        try_cast(release_date as date) as release_date,
        try_cast(imdb_score as double) as imdb_score_value,
        try_cast(runtime_minutes as integer) as runtime_minutes,
        mpaa_rating,
        try_cast(budget_usd as decimal(18, 2)) as budget_usd,
        _ingest_seq,
        _loaded_at
    from latest_rows
)

select
    title_id,
    title_name,
    franchise,
    genre,
    release_date,
    case
        when imdb_score_value between 0 and 10 then cast(imdb_score_value as decimal(3, 1))
    end as imdb_score,
    runtime_minutes,
    mpaa_rating,
    budget_usd,
    _ingest_seq,
    _loaded_at
from typed
