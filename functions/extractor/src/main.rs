//! Lambda adapter of the extract stage.

// The handler's future (the signed HTTP client, the landing, the metrics wrapper) nests deeper
// than the compiler's default query depth when it computes the runtime loop's layout.
#![recursion_limit = "256"]

lakehouse_runtime::lambda_main!(extractor::Extractor);
