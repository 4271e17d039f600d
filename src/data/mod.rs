//! From image bytes to the normalised tensors the model takes.

mod decode;
mod transform;

pub use decode::{MAX_PIXELS, decode_image};
pub use transform::{Preprocess, center_crop, resize_shorter_side, resize_to};
