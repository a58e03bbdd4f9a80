//! Lambda adapter of the gold stage.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

lakehouse_tables::stage_main!(gold_builder);
