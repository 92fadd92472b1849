-- ChirpStack's device search uses trigram indexes.
create extension if not exists pg_trgm;
