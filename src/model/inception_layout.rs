//! Inception v3's layout as data: the stem's convolutions and the eleven blocks' branches, as
//! torchvision's `Inception3` builds them (`InceptionA` … `InceptionE` with their arguments), each
//! convolution under its torchvision name. [`super::InceptionV3`] is built and run from it.

/// One `BasicConv2d` of the layout: its torchvision name, output channels, kernel (rows, columns),
/// stride, and whether it is padded by half the kernel on each side (keeping the side at stride 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    pub name: &'static str,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: usize,
    pub padded: bool,
}

/// A stride-1 convolution padded to keep the side.
const fn same(name: &'static str, out_channels: usize, kernel: [usize; 2]) -> ConvSpec {
    ConvSpec { name, out_channels, kernel, stride: 1, padded: true }
}

/// An unpadded square convolution.
const fn valid(name: &'static str, out_channels: usize, kernel: usize, stride: usize) -> ConvSpec {
    ConvSpec { name, out_channels, kernel: [kernel, kernel], stride, padded: false }
}

/// The stem's convolutions, each with whether a 3×3 stride-2 max-pool follows it.
pub const STEM: [(ConvSpec, bool); 5] = [
    (valid("Conv2d_1a_3x3", 32, 3, 2), false),
    (valid("Conv2d_2a_3x3", 32, 3, 1), false),
    (same("Conv2d_2b_3x3", 64, [3, 3]), true),
    (valid("Conv2d_3b_1x1", 80, 1, 1), false),
    (valid("Conv2d_4a_3x3", 192, 3, 1), true),
];

/// What a branch does to the block's input before its convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchPool {
    None,
    /// `F.avg_pool2d(x, 3, stride=1, padding=1)`, the padding counted.
    Average,
    /// `F.max_pool2d(x, 3, stride=2)`; such a branch has no convolutions.
    Max,
}

/// A branch: an optional pooling, convolutions in a row, then optionally a fork of convolutions
/// that each take the last output and are concatenated (`InceptionE`'s `2a`/`2b`, `3a`/`3b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchSpec {
    pub pool: BranchPool,
    pub convs: Vec<ConvSpec>,
    pub fork: Vec<ConvSpec>,
}

/// A block: its torchvision name and its branches, concatenated in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSpec {
    pub name: &'static str,
    pub branches: Vec<BranchSpec>,
}

fn branch(pool: BranchPool, convs: &[ConvSpec]) -> BranchSpec {
    BranchSpec { pool, convs: convs.to_vec(), fork: Vec::new() }
}

fn forked(convs: &[ConvSpec], fork: [ConvSpec; 2]) -> BranchSpec {
    BranchSpec { pool: BranchPool::None, convs: convs.to_vec(), fork: fork.to_vec() }
}

/// torchvision's `InceptionA(in, pool_features)` (35×35).
fn inception_a(name: &'static str, pool_features: usize) -> BlockSpec {
    let branches = vec![
        branch(BranchPool::None, &[same("branch1x1", 64, [1, 1])]),
        branch(BranchPool::None, &[same("branch5x5_1", 48, [1, 1]), same("branch5x5_2", 64, [5, 5])]),
        branch(
            BranchPool::None,
            &[
                same("branch3x3dbl_1", 64, [1, 1]),
                same("branch3x3dbl_2", 96, [3, 3]),
                same("branch3x3dbl_3", 96, [3, 3]),
            ],
        ),
        branch(BranchPool::Average, &[same("branch_pool", pool_features, [1, 1])]),
    ];
    BlockSpec { name, branches }
}

/// torchvision's `InceptionB` (35×35 → 17×17).
fn inception_b(name: &'static str) -> BlockSpec {
    let branches = vec![
        branch(BranchPool::None, &[valid("branch3x3", 384, 3, 2)]),
        branch(
            BranchPool::None,
            &[
                same("branch3x3dbl_1", 64, [1, 1]),
                same("branch3x3dbl_2", 96, [3, 3]),
                valid("branch3x3dbl_3", 96, 3, 2),
            ],
        ),
        branch(BranchPool::Max, &[]),
    ];
    BlockSpec { name, branches }
}

/// torchvision's `InceptionC(in, channels_7x7)` (17×17, factorised 7×7 convolutions).
fn inception_c(name: &'static str, c7: usize) -> BlockSpec {
    let branches = vec![
        branch(BranchPool::None, &[same("branch1x1", 192, [1, 1])]),
        branch(
            BranchPool::None,
            &[same("branch7x7_1", c7, [1, 1]), same("branch7x7_2", c7, [1, 7]), same("branch7x7_3", 192, [7, 1])],
        ),
        branch(
            BranchPool::None,
            &[
                same("branch7x7dbl_1", c7, [1, 1]),
                same("branch7x7dbl_2", c7, [7, 1]),
                same("branch7x7dbl_3", c7, [1, 7]),
                same("branch7x7dbl_4", c7, [7, 1]),
                same("branch7x7dbl_5", 192, [1, 7]),
            ],
        ),
        branch(BranchPool::Average, &[same("branch_pool", 192, [1, 1])]),
    ];
    BlockSpec { name, branches }
}

/// torchvision's `InceptionD` (17×17 → 8×8).
fn inception_d(name: &'static str) -> BlockSpec {
    let branches = vec![
        branch(BranchPool::None, &[same("branch3x3_1", 192, [1, 1]), valid("branch3x3_2", 320, 3, 2)]),
        branch(
            BranchPool::None,
            &[
                same("branch7x7x3_1", 192, [1, 1]),
                same("branch7x7x3_2", 192, [1, 7]),
                same("branch7x7x3_3", 192, [7, 1]),
                valid("branch7x7x3_4", 192, 3, 2),
            ],
        ),
        branch(BranchPool::Max, &[]),
    ];
    BlockSpec { name, branches }
}

/// torchvision's `InceptionE` (8×8, forked 1×3 and 3×1 convolutions).
fn inception_e(name: &'static str) -> BlockSpec {
    let branches = vec![
        branch(BranchPool::None, &[same("branch1x1", 320, [1, 1])]),
        forked(
            &[same("branch3x3_1", 384, [1, 1])],
            [same("branch3x3_2a", 384, [1, 3]), same("branch3x3_2b", 384, [3, 1])],
        ),
        forked(
            &[same("branch3x3dbl_1", 448, [1, 1]), same("branch3x3dbl_2", 384, [3, 3])],
            [same("branch3x3dbl_3a", 384, [1, 3]), same("branch3x3dbl_3b", 384, [3, 1])],
        ),
        branch(BranchPool::Average, &[same("branch_pool", 192, [1, 1])]),
    ];
    BlockSpec { name, branches }
}

/// torchvision's `inception_v3` blocks, in order.
pub fn inception_v3_blocks() -> Vec<BlockSpec> {
    vec![
        inception_a("Mixed_5b", 32),
        inception_a("Mixed_5c", 64),
        inception_a("Mixed_5d", 64),
        inception_b("Mixed_6a"),
        inception_c("Mixed_6b", 128),
        inception_c("Mixed_6c", 160),
        inception_c("Mixed_6d", 160),
        inception_c("Mixed_6e", 192),
        inception_d("Mixed_7a"),
        inception_e("Mixed_7b"),
        inception_e("Mixed_7c"),
    ]
}

/// Where each of the four stages starts among the blocks: the 35×35 blocks (`Mixed_5b`–`5d`), the
/// 17×17 ones in two halves (`Mixed_6a`–`6c`, `Mixed_6d`–`6e`), the 8×8 ones (`Mixed_7a`–`7c`).
pub const INCEPTION_STAGE_STARTS: [usize; 4] = [0, 3, 6, 8];

/// One convolution of the blocks, in the order of [`super::InceptionV3::convs`]: block by block, branch
/// by branch, a branch's row before its fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockConv {
    /// Its state_dict key prefix: `Mixed_7b.branch3x3_2a`.
    pub key: String,
    /// The block it is in.
    pub block: usize,
    pub in_channels: usize,
    pub spec: ConvSpec,
}

/// Every convolution of [`inception_v3_blocks`] with its input width (the stem gives 192).
pub fn inception_v3_convs() -> Vec<BlockConv> {
    let mut convs = Vec::new();
    let mut block_input = STEM[STEM.len() - 1].0.out_channels;
    for (index, block) in inception_v3_blocks().iter().enumerate() {
        let mut block_output = 0;
        for branch in &block.branches {
            let mut channels = block_input;
            let mut push = |spec: &ConvSpec, in_channels: usize| {
                let key = format!("{}.{}", block.name, spec.name);
                convs.push(BlockConv { key, block: index, in_channels, spec: *spec });
            };
            for spec in &branch.convs {
                push(spec, channels);
                channels = spec.out_channels;
            }
            for spec in &branch.fork {
                push(spec, channels);
            }
            block_output += match branch.fork.is_empty() {
                true => channels,
                false => branch.fork.iter().map(|spec| spec.out_channels).sum(),
            };
        }
        block_input = block_output;
    }
    convs
}
