//! The few ONNX protobuf messages an export needs, written by hand: protobuf's wire format is
//! a sequence of (field number, wire type) keys followed by a varint or a length-prefixed byte
//! string, and an ONNX model is a `ModelProto` of nested messages. Field numbers are those of
//! `onnx.proto` (ONNX 1.17); only the fields written here are listed.

/// A message being written: its fields in the order they are added.
#[derive(Default)]
pub struct Message(Vec<u8>);

const VARINT: u64 = 0;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;

impl Message {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u64) {
        self.varint(u64::from(field) << 3 | wire_type);
    }

    /// An `int32`/`int64` field (negative values as ten-byte varints, as protobuf writes them).
    pub fn int(&mut self, field: u32, value: i64) -> &mut Self {
        self.key(field, VARINT);
        self.varint(value as u64);
        self
    }

    pub fn float(&mut self, field: u32, value: f32) -> &mut Self {
        self.key(field, FIXED32);
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, field: u32, bytes: &[u8]) -> &mut Self {
        self.key(field, LENGTH_DELIMITED);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
        self
    }

    pub fn string(&mut self, field: u32, text: &str) -> &mut Self {
        self.bytes(field, text.as_bytes())
    }

    pub fn message(&mut self, field: u32, message: Message) -> &mut Self {
        self.bytes(field, &message.0)
    }
}

/// `TensorProto.DataType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    Int64 = 7,
}

/// `ModelProto`.
pub mod model {
    pub const IR_VERSION: u32 = 1;
    pub const PRODUCER_NAME: u32 = 2;
    pub const PRODUCER_VERSION: u32 = 3;
    pub const GRAPH: u32 = 7;
    pub const OPSET_IMPORT: u32 = 8;
    pub const METADATA_PROPS: u32 = 14;
}

/// `OperatorSetIdProto`.
pub mod opset {
    pub const DOMAIN: u32 = 1;
    pub const VERSION: u32 = 2;
}

/// `StringStringEntryProto`.
pub mod entry {
    pub const KEY: u32 = 1;
    pub const VALUE: u32 = 2;
}

/// `GraphProto`.
pub mod graph {
    pub const NODE: u32 = 1;
    pub const NAME: u32 = 2;
    pub const INITIALIZER: u32 = 5;
    pub const INPUT: u32 = 11;
    pub const OUTPUT: u32 = 12;
}

/// `NodeProto`.
pub mod node {
    pub const INPUT: u32 = 1;
    pub const OUTPUT: u32 = 2;
    pub const NAME: u32 = 3;
    pub const OP_TYPE: u32 = 4;
    pub const ATTRIBUTE: u32 = 5;
}

/// `AttributeProto`, and its `AttributeType` values.
pub mod attribute {
    pub const NAME: u32 = 1;
    pub const F: u32 = 2;
    pub const I: u32 = 3;
    pub const INTS: u32 = 8;
    pub const TYPE: u32 = 20;

    pub const TYPE_FLOAT: i64 = 1;
    pub const TYPE_INT: i64 = 2;
    pub const TYPE_INTS: i64 = 7;
}

/// `TensorProto`.
pub mod tensor {
    pub const DIMS: u32 = 1;
    pub const DATA_TYPE: u32 = 2;
    pub const NAME: u32 = 8;
    pub const RAW_DATA: u32 = 9;
}

/// `ValueInfoProto`, `TypeProto`, `TypeProto.Tensor`, `TensorShapeProto` and its `Dimension`.
pub mod value_info {
    pub const NAME: u32 = 1;
    pub const TYPE: u32 = 2;
    pub const TYPE_TENSOR: u32 = 1;
    pub const TENSOR_ELEM_TYPE: u32 = 1;
    pub const TENSOR_SHAPE: u32 = 2;
    pub const SHAPE_DIM: u32 = 1;
    pub const DIM_VALUE: u32 = 1;
    pub const DIM_PARAM: u32 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Protobuf's own encoding examples: 150 in field 1 is `08 96 01`, "testing" in field 2 is
    /// `12 07 74 65 73 74 69 6e 67`; −1 takes ten bytes.
    #[test]
    fn fields_encode_as_protobuf_does() {
        let mut message = Message::new();
        message.int(1, 150).string(2, "testing");
        assert_eq!(message.into_bytes(), [0x08, 0x96, 0x01, 0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']);
        let mut negative = Message::new();
        negative.int(3, -1);
        assert_eq!(negative.into_bytes(), [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        let mut float = Message::new();
        float.float(2, 1.0);
        assert_eq!(float.into_bytes(), [0x15, 0x00, 0x00, 0x80, 0x3f]);
    }
}
