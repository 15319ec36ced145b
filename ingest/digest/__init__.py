"""The digest stage: build a `Digest` from `DigestInputs` (pure), render it as text, Markdown,
HTML or JSON. Storage (`ingest.digeststore`) fills the inputs; `ingest.deliver` sends it."""
