-- turns: one row per assistant reply directly followed by a user message,
-- both non-empty. A view, so it is always in step with `messages` and the
-- quadratic `history` column is only built when a query asks for it.
CREATE OR REPLACE VIEW turns AS
WITH m AS (
    SELECT
        conversation_id, message_index, role, content,
        lag(role) OVER w AS prev_role,
        lag(content) OVER w AS prev_content,
        lead(role) OVER w AS next_role,
        lead(content) OVER w AS next_content
    FROM messages
    WINDOW w AS (PARTITION BY conversation_id ORDER BY message_index)
),
items AS (
    SELECT *, row_number() OVER (PARTITION BY conversation_id ORDER BY message_index) - 1 AS turn_index
    FROM m
    WHERE role = 'assistant' AND next_role = 'user'
      AND trim(content) <> '' AND trim(next_content) <> ''
)
SELECT
    i.conversation_id || ':' || i.message_index AS item_id,
    i.conversation_id,
    i.turn_index,
    (SELECT coalesce(list({'role': h.role, 'content': h.content} ORDER BY h.message_index), [])
       FROM messages h
      WHERE h.conversation_id = i.conversation_id
        AND h.message_index < i.message_index - CASE WHEN i.prev_role = 'user' THEN 1 ELSE 0 END
    ) AS history,
    CASE WHEN i.prev_role = 'user' THEN i.prev_content END AS prompt,
    i.content AS response,
    i.next_content AS feedback,
    c.language,
    c.model
FROM items i
JOIN conversations c USING (conversation_id)
