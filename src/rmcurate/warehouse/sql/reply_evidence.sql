-- reply_evidence: one row per non-empty assistant reply, with everything known about it:
-- what its user did (counts per event kind, first action), the follow-up label when the
-- feedback stage kept one, and the propensity features a debiasing model needs.
-- Impression events say a reply was seen; they are counted apart and are not actions.
-- Each reply's position and length come from the stored `replies` table (warehouse/replies.py):
-- no window over every message, so a count or a group by costs what it reads.
CREATE OR REPLACE VIEW reply_evidence AS
WITH acts AS (
    SELECT conversation_id, message_index,
           count(*) FILTER (WHERE event = 'impression') AS impressions,
           count(*) FILTER (WHERE event = 'copy') AS copies,
           count(*) FILTER (WHERE event = 'click') AS clicks,
           count(*) FILTER (WHERE event = 'thumbs_up') AS thumbs_up,
           count(*) FILTER (WHERE event = 'thumbs_down') AS thumbs_down,
           count(*) FILTER (WHERE event = 'regenerate') AS regenerations,
           count(*) FILTER (WHERE event = 'share') AS shares,
           count(*) FILTER (WHERE event = 'edit') AS edits,
           min(ts) FILTER (WHERE event <> 'impression') AS first_action_at,
           list(event ORDER BY ts, event_id) FILTER (WHERE event <> 'impression') AS events,
           max(TRY_CAST(json_extract(payload, '$.simulated_preference') AS DOUBLE))
               FILTER (WHERE event = 'impression') AS simulated_preference,
           bool_or(TRY_CAST(json_extract(payload, '$.simulated_preferred') AS BOOLEAN))
               FILTER (WHERE event = 'impression') AS simulated_preferred
    FROM events WHERE message_index IS NOT NULL
    GROUP BY 1, 2
),
users AS (
    SELECT conversation_id, min(user_id) AS user_id, count(*) AS conversation_events
    FROM events GROUP BY 1
),
activity AS (
    SELECT user_id, count(*) FILTER (WHERE event <> 'impression') AS user_events FROM events GROUP BY 1
),
labels AS (
    SELECT item_id, arg_max(label, labeled_at) AS feedback_label, arg_max(category, labeled_at) AS feedback_category
    FROM feedback_labels WHERE kept GROUP BY 1
)
SELECT r.item_id, r.conversation_id, r.message_index, r.position, r.response_chars, u.user_id, coalesce(u.conversation_events, 0) > 0 AS conversation_has_events,
       coalesce(a.impressions, 0) AS impressions, coalesce(a.copies, 0) AS copies, coalesce(a.clicks, 0) AS clicks,
       coalesce(a.thumbs_up, 0) AS thumbs_up, coalesce(a.thumbs_down, 0) AS thumbs_down,
       coalesce(a.regenerations, 0) AS regenerations, coalesce(a.shares, 0) AS shares,
       coalesce(a.edits, 0) AS edits, a.first_action_at, coalesce(a.events, []) AS events,
       -- the user's actions on other replies: this reply's own would leak its outcome into the propensity
       coalesce(act.user_events, 0) - len(coalesce(a.events, [])) AS user_events, l.feedback_label, l.feedback_category,
       a.simulated_preference, a.simulated_preferred
FROM replies r
LEFT JOIN acts a USING (conversation_id, message_index)
LEFT JOIN users u USING (conversation_id)
LEFT JOIN activity act ON act.user_id IS NOT DISTINCT FROM u.user_id
LEFT JOIN labels l ON l.item_id = r.item_id;
