//! Tailing files: pure decisions (`identity`, `lines`, `glob` matching) and the tokio I/O around them
//! (`scan` finds and opens files, `reader` reads one file).

pub mod glob;
pub mod identity;
pub mod lines;
pub mod reader;
pub mod scan;
