{#-
    Birth dates typed by hand into a CRM, parsed in pure SQL without ever raising:
    every cast applies to a string already matched as digits, and a date is only built after the
    day has been checked against the month's length.

    Accepted (after trimming); day first, as written in Europe:
      YYYY-MM-DD   also / or . as separator, optional time part ('1987-04-12T00:00:00Z')
      DD/MM/YYYY   also - . or a space as separator; when the second number cannot be a month
                   and the first can ('04/25/1987'), it is read month first
      DD.MM.YY     two-digit year: above the as-of year's last two digits -> 19YY, else 20YY
      YYYYMMDD     eight digits starting 19 or 20; other eight digits are read DDMMYYYY
      YYYY         four digits are always a year: between var birth_year_min and the as-of year
                   -> 1 July of that year, birth_date_precision = 'year'
      N            an Excel serial day number 1..60000 (not four digits) -> 1899-12-30 + N days
      -N..N        9 to 13 digits: a Unix epoch in milliseconds (HubSpot's older date format)
    Anything else - blank, garbage, 31/02/1990, a date after the as-of date, a year before
    birth_year_min - gives null; models flag the non-blank inputs that gave null as invalid.

    Two steps, so the regex-heavy first step can be computed once per row (a materialized CTE):
      birth_date_iso_text(raw)  -> 'Y-M-D' text of digit groups, not yet validated (two-digit
                                   years and month/day order are settled by the second step)
      date_from_iso_text(iso)   -> the checked date, or null
    parse_birth_date(raw) composes both for one-off use.
-#}

{% macro birth_date_iso_text(raw) -%}
    {%- set s = "btrim(" ~ raw ~ ")" -%}
    {%- set ymd = "'^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?:[T ].*)?$'" -%}
    {%- set dmy = "'^([0-9]{1,2})[-/.[:space:]]+([0-9]{1,2})[-/.[:space:]]+([0-9]{2}|[0-9]{4})$'" -%}
    {%- set year_only = "substring(" ~ s ~ " from '^([0-9]{4})$')::int" -%}
    {%- set compact = "substring(" ~ s ~ " from '^([0-9]{8})$')" -%}
    {%- set serial = "substring(" ~ s ~ " from '^([0-9]{1,3}|[0-9]{5})(?:\\.0+)?$')::int" -%}
    {%- set epoch_ms = "substring(" ~ s ~ " from '^(-?[0-9]{9,13})$')::bigint" -%}
    case
        {#- the two commonest shapes first, without reading a pattern's groups (the costly part of
            PostgreSQL's regular expressions): 'YYYY-MM-DD' is its own text, 'DD/MM/YYYY' three
            substrings; the general patterns below give the same text for both #}
        when {{ s }} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
            then {{ s }}
        when {{ s }} ~ '^[0-9]{2}/[0-9]{2}/[0-9]{4}$'
            then substr({{ s }}, 7, 4) || '-' || substr({{ s }}, 4, 2) || '-' || substr({{ s }}, 1, 2)
        when {{ s }} ~ {{ ymd }}
            then regexp_replace({{ s }}, {{ ymd }}, '\1-\2-\3')
        {#- the year may have two digits and day and month may be swapped: date_from_iso_text decides #}
        when {{ s }} ~ {{ dmy }}
            then regexp_replace({{ s }}, {{ dmy }}, '\3-\2-\1')
        when {{ compact }} ~ '^(19|20)'
            then concat_ws('-', substr({{ compact }}, 1, 4), substr({{ compact }}, 5, 2), substr({{ compact }}, 7, 2))
        when {{ compact }} is not null
            then concat_ws('-', substr({{ compact }}, 5, 4), substr({{ compact }}, 3, 2), substr({{ compact }}, 1, 2))
        when {{ year_only }} is not null
            then case
                when {{ year_only }} between {{ var('birth_year_min', 1900) }} and extract(year from {{ as_of_date() }})
                    then {{ year_only }}::text || '-07-01'
            end
        when {{ serial }} between 1 and 60000
            then to_char(date '1899-12-30' + {{ serial }}, 'YYYY-MM-DD')
        when {{ epoch_ms }} is not null
            then to_char(to_timestamp({{ epoch_ms }} / 1000.0) at time zone 'UTC', 'YYYY-MM-DD')
    end
{%- endmacro %}


{#-
    'Y-M-D' digit groups -> date, or null when not a real, plausible birth date.
    A two-digit year pivots on the as-of year (above its last two digits -> 19YY, else 20YY);
    a month above 12 with a day that can be a month is read the other way round (04/25/1987).
-#}
{% macro date_from_iso_text(iso) -%}
    {%- set y = birth_iso_year(iso) -%}
    {%- set m = birth_iso_month(iso) -%}
    {%- set d = birth_iso_day(iso) -%}
    {#- clamped so that make_date cannot raise even if the planner folds it early -#}
    {%- set safe_date = "make_date(least(greatest(" ~ y ~ ", 1), 9999), least(greatest(" ~ m ~ ", 1), 12), 1)"
        ~ " + (least(greatest(" ~ d ~ ", 1), 31) - 1)" -%}
    case
        when {{ iso }} ~ '^[0-9]{2,4}-[0-9]{1,2}-[0-9]{1,2}$'
            and {{ y }} between {{ var('birth_year_min', 1900) }} and extract(year from {{ as_of_date() }})
            and {{ m }} between 1 and 12
            and {{ d }} between 1 and {{ days_in_month(y, m) }}
            and {{ safe_date }} <= {{ as_of_date() }}
            then {{ safe_date }}
    end
{%- endmacro %}


{#- The year of 'Y-M-D' digit groups; a two-digit year pivots on the as-of year. -#}
{% macro birth_iso_year(iso) -%}
    {%- set y_text = "split_part(" ~ iso ~ ", '-', 1)" -%}
    {%- set as_of_yy = "(extract(year from " ~ as_of_date() ~ ")::int % 100)" -%}
        (case
            when length({{ y_text }}) > 2 then {{ y_text }}::int
            when {{ y_text }}::int > {{ as_of_yy }} then 1900 + {{ y_text }}::int
            else 2000 + {{ y_text }}::int
        end)
{%- endmacro %}


{#- Month and day of 'Y-M-D' digit groups: read the other way round when the month is above 12 and the day can be a month. -#}
{% macro birth_iso_month(iso) -%}
    {%- set a = "split_part(" ~ iso ~ ", '-', 2)::int" -%}
    {%- set b = "split_part(" ~ iso ~ ", '-', 3)::int" -%}
    {{- "(case when " ~ a ~ " > 12 and " ~ b ~ " <= 12 then " ~ b ~ " else " ~ a ~ " end)" -}}
{%- endmacro %}

{% macro birth_iso_day(iso) -%}
    {%- set a = "split_part(" ~ iso ~ ", '-', 2)::int" -%}
    {%- set b = "split_part(" ~ iso ~ ", '-', 3)::int" -%}
    {{- "(case when " ~ a ~ " > 12 and " ~ b ~ " <= 12 then " ~ a ~ " else " ~ b ~ " end)" -}}
{%- endmacro %}


{#-
    Why a non-blank birth date gave no date (for `audience identity normalize`; never the value):
    'unreadable date', 'implausible birth year' (before var birth_year_min or after the as-of
    year), 'impossible date' (31/02, month 13) or 'birth date in the future'.
-#}
{% macro birth_date_reason(raw, iso) -%}
    {%- set y = birth_iso_year(iso) -%}
    {%- set m = birth_iso_month(iso) -%}
    {%- set d = birth_iso_day(iso) -%}
    case
        when {{ iso }} is null then
            case when btrim({{ raw }}) ~ '^[0-9]{4}$' then 'implausible birth year' else 'unreadable date' end
        when {{ iso }} !~ '^[0-9]{2,4}-[0-9]{1,2}-[0-9]{1,2}$' then 'unreadable date'
        when {{ y }} not between {{ var('birth_year_min', 1900) }} and extract(year from {{ as_of_date() }})
            then 'implausible birth year'
        when {{ m }} not between 1 and 12 or {{ d }} not between 1 and {{ days_in_month(y, m) }}
            then 'impossible date'
        else 'birth date in the future'
    end
{%- endmacro %}


{#- Number of days in month m of year y (Gregorian leap years), for integer expressions. -#}
{% macro days_in_month(y, m) -%}
    case
        when {{ m }} in (4, 6, 9, 11) then 30
        when {{ m }} = 2 then
            case when ({{ y }}) % 4 = 0 and (({{ y }}) % 100 <> 0 or ({{ y }}) % 400 = 0) then 29 else 28 end
        else 31
    end
{%- endmacro %}


{#- 'year' when the input held only a year (the date is then 1 July), 'day' otherwise. -#}
{% macro birth_date_precision(raw) -%}
    case
        {#- matched before its group is read (see birth_date_iso_text): most inputs are not four digits #}
        when btrim({{ raw }}) !~ '^[0-9]{4}$' then 'day'
        when btrim({{ raw }})::int
            between {{ var('birth_year_min', 1900) }} and extract(year from {{ as_of_date() }})
            then 'year'
        else 'day'
    end
{%- endmacro %}


{% macro parse_birth_date(raw) -%}
    {{ date_from_iso_text(birth_date_iso_text(raw)) }}
{%- endmacro %}
