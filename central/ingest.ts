// Central ingest lives in central/ingest/; this path stays for the commands and tests that import it.
export * from './ingest/ingest.js';
