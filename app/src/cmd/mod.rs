//! The subcommands of `footfall`, one module each; `input` holds what `count` and `serve`
//! share (the source, camera supervision options, the counting options), which `run`
//! (a site file) uses per camera.

pub mod camera;
pub mod count;
pub mod detect;
pub mod enroll;
pub mod hub;
pub mod input;
pub mod report;
mod report_svg;
pub mod run;
pub mod serve;
