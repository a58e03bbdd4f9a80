//! Lambda adapter of the transform stage.

lakehouse_runtime::lambda_main!(transformer::Transformer);
