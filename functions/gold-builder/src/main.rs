//! Lambda adapter of the gold stage.

lakehouse_runtime::lambda_main!(gold_builder::GoldBuilder);
