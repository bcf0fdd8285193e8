//! The pest parser generated from `grammar/deit.pest`.

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/deit.pest"]
pub struct DeitParser;
