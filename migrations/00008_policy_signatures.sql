-- invitegate schema, part 8: who signed each policy event, and what had to
-- be changed to store it.
--
-- With --policy-trust, an event applies only when signed by a trusted key:
-- key_id is the id of the key that signed it (its OpenSSH SHA256
-- fingerprint, NULL when unsigned) and author, for an applied event, is
-- that key's identity. Rejected events keep their reason in reject_reason,
-- now also unsigned | bad_signature | untrusted_key | republished.
--
-- PostgreSQL refuses NUL in text and \u0000 in jsonb: an event carrying one
-- is stored with each NUL written as the six characters \u0000, and
-- stored_note says which fields were changed (NULL when none was). A row
-- PostgreSQL still refuses is stored without its payload, with the error in
-- stored_note, so that one event never blocks the next.

-- +goose Up
ALTER TABLE invitegate.policy_revisions
    ADD COLUMN key_id      text,
    ADD COLUMN stored_note text;

-- +goose Down
ALTER TABLE invitegate.policy_revisions
    DROP COLUMN stored_note,
    DROP COLUMN key_id;
