//! What is still due once tenders are applied.
