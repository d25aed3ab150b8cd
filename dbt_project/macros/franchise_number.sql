{#-
    titles_with_franchise_number(titles): the title catalog with a number per franchise, in
    the franchise name's order (dense_rank), so that a tie broken on the number is broken on
    the name. The Gold aggregates group every interaction by franchise: on the number that
    is faster than on the name.
-#}
{% macro titles_with_franchise_number(titles) -%}
    select
        *,
        dense_rank() over (order by franchise) as franchise_number
    from {{ titles }}
{%- endmacro %}
