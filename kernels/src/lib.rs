//! The CPU's heavy work.
//! - The fused convolutions that feature extraction runs: a folded convolution, its bias, a
//!   residual addition and the activation as one pass instead of four. Plain convolutions are
//!   matrix products ([`conv2d_fused`]), 3×3 stride-1 ones use Winograd's F(2×2, 3×3)
//!   ([`winograd`]), depthwise ones are computed directly ([`depthwise`]). The main crate runs
//!   them behind Burn's backend-extension mechanism (`src/kernels`).
//! - BatchNorm in training, forward and backward ([`batch_norm`]): what training the backbone
//!   spends most on besides its convolutions.
//! - Pillow's resampling passes, for the transforms' `Resize` ([`resample`]).
//! - The image crate's decoders, compiled here ([`decoders`]).
//!
//! A crate of its own so that it is optimised for speed (opt-level 3) while the rest of the
//! download, which routes work rather than doing it, is optimised for size.

pub mod batch_norm;
mod conv;
pub mod decoders;
pub mod depthwise;
pub mod resample;
pub mod winograd;

pub use conv::{Activation, ConvGeometry, conv2d_fused};
