//! The subset of Python's pickle format that `torch.save(state_dict)` writes (protocols 2–5).
//!
//! Only data is built: globals are kept as names, never called. Tensor rebuilds and storages
//! are recognised by name and become [`Value::Tensor`] / [`Value::Storage`].

use std::collections::HashMap;

/// A storage as torch's `persistent_id` describes it: element type name (e.g. `FloatStorage`),
/// the zip entry key holding its bytes, and its length in elements.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    pub type_name: String,
    pub key: String,
    pub numel: usize,
}

/// A tensor view into a storage, as `torch._utils._rebuild_tensor_v2` receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global {
        module: String,
        name: String,
    },
    Storage(StorageRef),
    Tensor(TensorRef),
    /// The result of calling a global this reader does not interpret.
    Opaque(String),
}

impl Value {
    /// How many values this one is made of, itself included.
    fn size(&self) -> usize {
        1 + match self {
            Value::Tuple(items) | Value::List(items) => items.iter().map(Value::size).sum(),
            Value::Dict(items) => items.iter().map(|(key, value)| key.size() + value.size()).sum(),
            _ => 0,
        }
    }

    fn as_usize(&self) -> Option<usize> {
        match self {
            Value::Int(v) => usize::try_from(*v).ok(),
            _ => None,
        }
    }
}

/// Why a pickle could not be read; the caller turns it into a user-facing error.
pub type PickleError = String;

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    /// Values copied out of the memo so far. Each memo get copies a whole value, so a few dozen
    /// bytes that get a list, put it in a new list twice and repeat would build an exponentially
    /// large object; real pickles copy a few values per byte at most.
    copied: usize,
}

/// Reads one pickle stream and returns the object it describes.
pub fn read(data: &[u8]) -> Result<Value, PickleError> {
    read_prefix(data).map(|(value, _)| value)
}

/// Reads the pickle at the start of `data`; also returns how many bytes it took, for files that
/// hold several pickles in a row (PyTorch's legacy format).
pub fn read_prefix(data: &[u8]) -> Result<(Value, usize), PickleError> {
    let mut machine = Machine { data, pos: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), copied: 0 };
    let value = machine.run()?;
    Ok((value, machine.pos))
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.data.len());
        let end = end.ok_or_else(|| format!("pickle ends early at byte {}", self.pos))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }
    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let len = rest.iter().position(|&b| b == b'\n').ok_or("pickle line without end")?;
        let text = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.pos += len + 1;
        Ok(text)
    }
    fn utf8(&mut self, len: usize) -> Result<Value, PickleError> {
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map(Value::Str).map_err(|_| "pickle string is not UTF-8".to_string())
    }
    fn pop(&mut self) -> Result<Value, PickleError> {
        self.stack.pop().ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn top(&mut self) -> Result<&mut Value, PickleError> {
        self.stack.last_mut().ok_or_else(|| "pickle stack underflow".to_string())
    }
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let mark = self.marks.pop().ok_or("pickle MARK missing")?;
        if mark > self.stack.len() {
            return Err("pickle MARK beyond stack".into());
        }
        Ok(self.stack.split_off(mark))
    }
    fn memo_get(&mut self, index: u32) -> Result<(), PickleError> {
        let value = self.memo.get(&index).ok_or_else(|| format!("pickle memo {index} missing"))?;
        self.copied += value.size();
        if self.copied > 4 * self.data.len() + 1024 {
            return Err("the pickle copies its values far more often than a saved state_dict does".into());
        }
        let value = value.clone();
        self.stack.push(value);
        Ok(())
    }
    fn memo_put(&mut self, index: u32) -> Result<(), PickleError> {
        let value = self.top()?.clone();
        self.memo.insert(index, value);
        Ok(())
    }
    fn push_int(&mut self, bytes_len: usize) -> Result<(), PickleError> {
        let bytes = self.take(bytes_len)?;
        if bytes_len > 8 {
            // Only torch's legacy magic number is this wide; its value is never needed.
            self.stack.push(Value::Opaque("integer wider than 64 bits".into()));
            return Ok(());
        }
        let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) { [0xff; 8] } else { [0; 8] };
        buf[..bytes_len].copy_from_slice(bytes);
        self.stack.push(Value::Int(i64::from_le_bytes(buf)));
        Ok(())
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(v.into()));
                }
                0x8a => {
                    let len = self.u8()? as usize;
                    self.push_int(len)?;
                }
                0x8b => {
                    let len = self.u32()? as usize;
                    self.push_int(len)?;
                }
                b'I' => {
                    let line = self.line()?;
                    let value = match line.as_str() {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        text => Value::Int(text.parse().map_err(|_| format!("bad pickle INT {text}"))?),
                    };
                    self.stack.push(value);
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                    self.stack.push(Value::Float(v));
                }
                b'X' => {
                    let len = self.u32()? as usize;
                    let v = self.utf8(len)?;
                    self.stack.push(v);
                }
                0x8c => {
                    let len = self.u8()? as usize;
                    let v = self.utf8(len)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let len = self.u64()? as usize;
                    let v = self.utf8(len)?;
                    self.stack.push(v);
                }
                b'U' | b'C' => {
                    let len = self.u8()? as usize;
                    let v = self.take(len)?.to_vec();
                    self.stack.push(if op == b'U' {
                        Value::Str(String::from_utf8_lossy(&v).into())
                    } else {
                        Value::Bytes(v)
                    });
                }
                b'T' | b'B' => {
                    let len = self.u32()? as usize;
                    let v = self.take(len)?.to_vec();
                    self.stack.push(if op == b'T' {
                        Value::Str(String::from_utf8_lossy(&v).into())
                    } else {
                        Value::Bytes(v)
                    });
                }
                0x8e => {
                    let len = self.u64()? as usize;
                    let v = self.take(len)?.to_vec();
                    self.stack.push(Value::Bytes(v));
                }
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                0x8f => self.stack.push(Value::List(Vec::new())), // EMPTY_SET, kept as a list
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("pickle stack underflow".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Dict(pairs(items)?));
                }
                b'a' => {
                    let item = self.pop()?;
                    if let Value::List(list) = self.top()? {
                        list.push(item);
                    }
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    if let Value::List(list) = self.top()? {
                        list.extend(items);
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items)); // FROZENSET
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    if let Value::Dict(dict) = self.top()? {
                        dict.push((key, value));
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let new_pairs = pairs(items)?;
                    if let Value::Dict(dict) = self.top()? {
                        dict.extend(new_pairs);
                    }
                }
                b'q' => {
                    let i = self.u8()?;
                    self.memo_put(i.into())?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    self.memo_put(i)?;
                }
                b'h' => {
                    let i = self.u8()?;
                    self.memo_get(i.into())?;
                }
                b'j' => {
                    let i = self.u32()?;
                    self.memo_get(i)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global { module, name });
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(module), Value::Str(name)) => self.stack.push(Value::Global { module, name }),
                        _ => return Err("pickle STACK_GLOBAL without names".into()),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.stack.push(persistent_load(pid)?);
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.stack.push(reduce(callable, args)?);
                }
                0x81 => {
                    let _args = self.pop()?;
                    let class = self.pop()?;
                    self.stack.push(Value::Opaque(format!("{class:?}")));
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let _args = self.pop()?;
                    let class = self.pop()?;
                    self.stack.push(Value::Opaque(format!("{class:?}")));
                }
                b'b' => {
                    // BUILD sets an object's state (an OrderedDict's `_metadata`, say): not data we use.
                    self.pop()?;
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?.clone();
                    self.stack.push(top);
                }
                other => return Err(format!("unsupported pickle opcode 0x{other:02x} at byte {}", self.pos - 1)),
            }
        }
    }
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, PickleError> {
    if !items.len().is_multiple_of(2) {
        return Err("pickle dict with an odd number of items".into());
    }
    let mut iter = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// torch's persistent id: `('storage', storage_type, key, location, numel)`, with a sixth
/// element (`view_metadata`, `None` for whole storages) in the legacy format.
fn persistent_load(pid: Value) -> Result<Value, PickleError> {
    let Value::Tuple(items) = pid else {
        return Err("unknown persistent id in pickle".into());
    };
    if let Some(view) = items.get(5).filter(|view| **view != Value::None) {
        return Err(format!("storage views ({view:?}) are not supported: save the state_dict again"));
    }
    match items.as_slice() {
        [Value::Str(kind), storage_type, Value::Str(key), _location, numel, ..] if kind == "storage" => {
            let type_name = match storage_type {
                Value::Global { name, .. } => name.clone(),
                _ => return Err("storage without a type".into()),
            };
            let numel = numel.as_usize().ok_or("storage without a length")?;
            Ok(Value::Storage(StorageRef { type_name, key: key.clone(), numel }))
        }
        _ => Err("unknown persistent id in pickle".into()),
    }
}

fn usize_list(value: &Value) -> Option<Vec<usize>> {
    match value {
        Value::Tuple(items) | Value::List(items) => items.iter().map(Value::as_usize).collect(),
        _ => None,
    }
}

/// Interprets the few callables a state_dict pickle uses; anything else becomes [`Value::Opaque`].
fn reduce(callable: Value, args: Value) -> Result<Value, PickleError> {
    let Value::Global { module, name } = &callable else {
        return Ok(Value::Opaque("call of a non-global".into()));
    };
    let Value::Tuple(args) = args else {
        return Ok(Value::Opaque(format!("{module}.{name}")));
    };
    match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Ok(Value::Dict(Vec::new())),
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => match args.as_slice() {
            [Value::Storage(storage), offset, shape, stride, ..] => Ok(Value::Tensor(TensorRef {
                storage: storage.clone(),
                offset: offset.as_usize().ok_or("tensor without an offset")?,
                shape: usize_list(shape).ok_or("tensor without a shape")?,
                stride: usize_list(stride).ok_or("tensor without strides")?,
            })),
            _ => Err(format!("unexpected arguments to {module}.{name}")),
        },
        // nn.Parameter saved directly: its first argument is the tensor.
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            args.into_iter().next().ok_or_else(|| "parameter without data".to_string())
        }
        _ => Ok(Value::Opaque(format!("{module}.{name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_containers_and_memo() {
        // pickle.dumps({'a': [1, 300, -2], 'b': ('x', True, None)}, protocol=2)
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01M,\x01J\xfe\xff\xff\xffeX\x01\x00\x00\x00bq\x03X\x01\x00\x00\x00xq\x04\x88N\x87q\x05u.";
        let value = read(data).unwrap();
        let Value::Dict(items) = value else { panic!("not a dict: {value:?}") };
        assert_eq!(
            items[0],
            (Value::Str("a".into()), Value::List(vec![Value::Int(1), Value::Int(300), Value::Int(-2)]))
        );
        assert_eq!(items[1].1, Value::Tuple(vec![Value::Str("x".into()), Value::Bool(true), Value::None]));
    }

    #[test]
    fn truncated_stream_is_an_error_not_a_panic() {
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01M,";
        for len in 0..data.len() {
            assert!(read(&data[..len]).is_err());
        }
    }

    #[test]
    fn a_pickle_that_doubles_itself_through_the_memo_is_refused() {
        // [] → memo 0; then 40 times: (memo 0, memo 0) as a list → memo 0: 2⁴⁰ values from
        // 250 bytes.
        let mut data = b"\x80\x02]q\x00".to_vec();
        for _ in 0..40 {
            data.extend_from_slice(b"(h\x00h\x00lq\x00");
        }
        data.push(b'.');
        let err = read(&data).unwrap_err();
        assert!(err.contains("copies its values"), "{err}");
    }
}
