{#-
    DuckDB only: list a schema's relations with lower-case database, schema and name.

    Why: the project sets quoting false so that Snowflake folds names to upper case. With
    quoting off, dbt lower-cases the name it searches its relation cache for
    ("sony_de"."stg"."x"), while dbt-duckdb's own macro reports the catalog and schema as
    stored ("SONY_DE"."STG"."x": the file is SONY_DE.duckdb and schemas are created upper
    case). dbt then stops with "found an approximate match" on every run after the first.
    DuckDB resolves identifiers case-insensitively, quoted or not, so reporting them in
    lower case is exact for dbt and changes nothing for DuckDB. Snowflake needs no such
    override: dbt-snowflake compares in upper case.
-#}
{% macro duckdb__list_relations_without_caching(schema_relation) %}
  {% call statement('list_relations_without_caching', fetch_result=True) -%}
    select
      lower('{{ schema_relation.database }}') as database,
      lower(table_name) as name,
      lower(table_schema) as schema,
      case table_type
        when 'BASE TABLE' then 'table'
        when 'VIEW' then 'view'
        when 'LOCAL TEMPORARY' then 'table'
      end as type
    from system.information_schema.tables
    where lower(table_schema) = '{{ schema_relation.schema | lower }}'
      and lower(table_catalog) = '{{ schema_relation.database | lower }}'
  {% endcall %}
  {{ return(load_result('list_relations_without_caching').table) }}
{% endmacro %}
