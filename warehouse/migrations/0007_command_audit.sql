-- citycc warehouse schema, version 6: the cockpit's audit trail. Every sign-in and every
-- operator command, applied or refused: who (user, role, agency, districts, address,
-- connection), what (action, target, command_id, the command as given) and what became of
-- it. ``source`` cockpit: ``result`` signed_in, forwarded (on the commands topic), refused
-- by the cockpit (``code``: unauthenticated, forbidden, rate_limited, a validation code) or
-- unconfirmed (the broker did not confirm it, code unavailable: it may still land);
-- ``source`` worker: the worker's answer, applied, duplicate or refused (``code`` its own),
-- joined to the cockpit's row by command_id. Ids are random per cockpit record and
-- deterministic per worker answer, so a redelivered copy collapses (ReplacingMergeTree,
-- read with FINAL).

CREATE TABLE IF NOT EXISTS {db}.command_audit (
    audit_id String, at DateTime('UTC'), at_ms UInt64, source String, user String,
    role String, agency String, districts Array(String), action String, target String,
    command_id String, result String, code String, field String, reason String,
    remote String, session String, command String
) ENGINE = ReplacingMergeTree()
PARTITION BY tuple()
ORDER BY (command_id, audit_id);
