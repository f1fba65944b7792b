-- turns: one row per reply that is a turn (warehouse/replies.py has the rule): the prompt, the
-- reply, the user's next message (its feedback), the history before the prompt, and the steps between
-- the prompt and the reply (tool calls and their results, in the chat-template shape).
-- Built from the stored `replies` table by key joins, so a query pays for the columns it reads:
-- `count(*)` or a `group by language` never builds the history. The history is joined per turn
-- from a subquery grouped by the turn's own keys, which DuckDB drops when no column of it is read
-- and filters by item_id or conversation_id when the query does.
CREATE OR REPLACE VIEW turns AS
SELECT
    r.item_id,
    r.conversation_id,
    r.turn_index,
    coalesce(h.history, []) AS history,
    p.content AS prompt,
    coalesce(s.steps, []) AS steps,
    m.content AS response,
    f.content AS feedback,
    c.language,
    c.model
FROM replies r
JOIN messages m ON m.conversation_id = r.conversation_id AND m.message_index = r.message_index
JOIN messages p ON p.conversation_id = r.conversation_id AND p.message_index = r.prompt_index
JOIN messages f ON f.conversation_id = r.conversation_id AND f.message_index = r.message_index + 1
JOIN conversations c ON c.conversation_id = r.conversation_id
LEFT JOIN (
    SELECT t.item_id, t.conversation_id,
           list({'role': b.role, 'content': b.content, 'tool_calls': b.tool_calls, 'tool_call_id': b.tool_call_id}
                ORDER BY b.message_index) AS history
    FROM replies t JOIN messages b ON b.conversation_id = t.conversation_id AND b.message_index < t.prompt_index
    WHERE t.turn_index IS NOT NULL
    GROUP BY t.item_id, t.conversation_id
) h ON h.item_id = r.item_id AND h.conversation_id = r.conversation_id
LEFT JOIN (
    SELECT t.item_id, t.conversation_id,
           list({'role': b.role, 'content': b.content, 'tool_calls': b.tool_calls, 'tool_call_id': b.tool_call_id}
                ORDER BY b.message_index) AS steps
    FROM replies t JOIN messages b ON b.conversation_id = t.conversation_id
                                  AND b.message_index > t.prompt_index AND b.message_index < t.message_index
    WHERE t.turn_index IS NOT NULL
    GROUP BY t.item_id, t.conversation_id
) s ON s.item_id = r.item_id AND s.conversation_id = r.conversation_id
WHERE r.turn_index IS NOT NULL;
