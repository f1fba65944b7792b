-- turns: one row per assistant reply directly followed by a user message (its feedback), both
-- non-empty, with a user message somewhere before it. The prompt is the last user message
-- before the reply; everything before the prompt is history (earlier consecutive user messages
-- included). A reply with no user message before it (a greeting) is not a turn. Every reader
-- stores messages in order, so every format gets the same turns from the same conversation.
-- A view, so it is always in step with `messages`; the quadratic `history` column is only built
-- when a query asks for it.
CREATE OR REPLACE VIEW turns AS
WITH m AS (
    SELECT
        conversation_id, message_index, role, content,
        lead(role) OVER w AS next_role,
        lead(content) OVER w AS next_content,
        max(CASE WHEN role = 'user' THEN message_index END) OVER before AS prompt_index,
        last_value(CASE WHEN role = 'user' THEN content END IGNORE NULLS) OVER before AS prompt
    FROM messages
    WINDOW w AS (PARTITION BY conversation_id ORDER BY message_index),
           before AS (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
items AS (
    SELECT *, row_number() OVER (PARTITION BY conversation_id ORDER BY message_index) - 1 AS turn_index
    FROM m
    WHERE role = 'assistant' AND next_role = 'user' AND prompt_index IS NOT NULL
      AND trim(content) <> '' AND trim(next_content) <> ''
)
SELECT
    i.conversation_id || ':' || i.message_index AS item_id,
    i.conversation_id,
    i.turn_index,
    (SELECT coalesce(list({'role': h.role, 'content': h.content} ORDER BY h.message_index), [])
       FROM messages h
      WHERE h.conversation_id = i.conversation_id
        AND h.message_index < i.prompt_index
    ) AS history,
    i.prompt,
    i.content AS response,
    i.next_content AS feedback,
    c.language,
    c.model
FROM items i
JOIN conversations c USING (conversation_id)
