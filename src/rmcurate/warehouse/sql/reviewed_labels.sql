-- reviewed_labels: every label of feedback_labels beside its latest review (rmcurate review), and the
-- decision to use: the reviewer's category first, else the label stage's. A review of 3 (neutral)
-- drops the turn from the ordinal labels; a 1, 2, 4 or 5 keeps it, even where the stage dropped it.
-- Reviews never change feedback_labels; this view is how SQL users read both (exports do the same).
CREATE OR REPLACE VIEW reviewed_labels AS
WITH latest AS (
    SELECT item_id, category, reviewer, reviewed_at FROM reviews WHERE category IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY item_id ORDER BY reviewed_at DESC) = 1
)
SELECT l.item_id, l.conversation_id, l.pipeline_version, l.category, l.label, l.kept, l.method,
       r.category AS reviewed_category, r.reviewer, r.reviewed_at,
       coalesce(r.category, l.category) AS final_category,
       CASE WHEN r.item_id IS NULL THEN l.label
            ELSE CASE r.category WHEN 1 THEN 1 WHEN 2 THEN 2 WHEN 4 THEN 3 WHEN 5 THEN 4 END END AS final_label,
       CASE WHEN r.item_id IS NULL THEN l.kept ELSE r.category <> 3 END AS final_kept
FROM feedback_labels l LEFT JOIN latest r USING (item_id);
