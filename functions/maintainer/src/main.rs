//! Lambda adapter of lake maintenance.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

lakehouse_tables::stage_main!(maintainer);
