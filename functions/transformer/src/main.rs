//! Lambda adapter of the transform stage.

// polars allocates and frees many small strings; mimalloc is faster at that than the system
// allocator and gives memory back sooner, which matters inside a fixed Lambda memory size.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

lakehouse_tables::stage_main!(transformer);
