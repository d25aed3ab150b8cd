-- The future-timestamp defect is handled in staging: no interaction may be dated after
-- the load that brought it in.
select interaction_id, event_ts, _loaded_at
from {{ ref('stg_fan_interactions') }}
where event_ts > _loaded_at
