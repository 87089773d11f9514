// Package knowledge is the knowledge family: corpora over workspace files,
// their ingestion and hybrid search, and retrieval for turns.
//
// A corpus's files are ingested by that corpus's ingestion actor (a
// protoactor actor, supervised, stopping when idle): it takes jobs, runs
// each file through a bounded worker pool (extract → chunk → embed →
// index) and records every file's outcome in the store in one transaction
// with the corpus's counts. The store's chunk records are the source of
// truth; the lexical index (bleve, BM25) under the data dir is rebuilt from
// them when it is missing or behind, and vectors are searched exactly by a
// flat SIMD scan. Hybrid search fuses the two rankings by reciprocal rank.
//
// Extraction reads text, Markdown, HTML, JSON, CSV, PDF (page by page,
// each page under a time limit and a recover) and DOCX. The builtin
// embedder hashes character n-grams (it matches spellings and word forms,
// not meanings); the openai embedder calls any OpenAI-compatible
// /v1/embeddings server through the outbound fence (actors/egress); only
// server admins set its address, so it may be a private one.
package knowledge
