//! Lambda adapter of lake maintenance.

lakehouse_runtime::lambda_main!(maintainer::Maintainer);
