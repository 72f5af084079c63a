//! The pickle of a PyTorch state dict, read as data only.
//!
//! A pickle is a program for a small stack machine, and `torch.load` without `weights_only`
//! will call any function a file names. This reader runs no code: it knows the handful of
//! opcodes `torch.save` emits and exactly these callables, which it interprets itself:
//! `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `torch._utils._rebuild_parameter` and the `torch.*Storage` types (as persistent ids). A file
//! that names anything else (`os.system`, `builtins.eval`, a `__reduce__` payload of any kind)
//! is refused with a message naming it.

use safetensors::Dtype;

use crate::error::{Error, Result};

/// A tensor as the pickle describes it: a view into a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// The storage's key (its zip member is `data/<key>`).
    pub storage: String,
    /// Element type.
    pub dtype: Dtype,
    /// Offset into the storage, in elements.
    pub offset: usize,
    /// Shape.
    pub shape: Vec<usize>,
    /// Strides, in elements.
    pub stride: Vec<usize>,
}

#[derive(Debug, Clone)]
enum Callable {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    Storage(Dtype),
}

#[derive(Debug, Clone)]
enum Val {
    Mark,
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Tuple(Vec<Val>),
    List(Vec<Val>),
    Dict(Vec<(Val, Val)>),
    Global(Callable),
    Storage { key: String, dtype: Dtype },
    Tensor(TensorRef),
}

fn refuse(path: &str, message: String) -> Error {
    Error::TorchFile { path: path.to_string(), message }
}

fn global(module: &str, name: &str, path: &str) -> Result<Callable> {
    let storage = |d| Ok(Callable::Storage(d));
    match (module, name) {
        ("collections", "OrderedDict") => Ok(Callable::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Ok(Callable::RebuildTensor),
        ("torch._utils", "_rebuild_parameter") => Ok(Callable::RebuildParameter),
        ("torch", "FloatStorage") => storage(Dtype::F32),
        ("torch", "HalfStorage") => storage(Dtype::F16),
        ("torch", "BFloat16Storage") => storage(Dtype::BF16),
        ("torch", "DoubleStorage") => storage(Dtype::F64),
        ("torch", "LongStorage") => storage(Dtype::I64),
        ("torch", "IntStorage") => storage(Dtype::I32),
        ("torch", "ShortStorage") => storage(Dtype::I16),
        ("torch", "CharStorage") => storage(Dtype::I8),
        ("torch", "ByteStorage") => storage(Dtype::U8),
        ("torch", "BoolStorage") => storage(Dtype::BOOL),
        _ => Err(refuse(
            path,
            format!(
                "the pickle calls `{module}.{name}`; glimpse reads only tensors and plain containers from pickles \
                 (this file may be built to run code: it was not executed)"
            ),
        )),
    }
}

fn usizes(v: &Val, what: &str, path: &str) -> Result<Vec<usize>> {
    match v {
        Val::Tuple(items) | Val::List(items) => items
            .iter()
            .map(|x| match x {
                Val::Int(i) if *i >= 0 => Ok(*i as usize),
                _ => Err(refuse(path, format!("tensor {what} is not a tuple of sizes"))),
            })
            .collect(),
        _ => Err(refuse(path, format!("tensor {what} is not a tuple"))),
    }
}

fn call(f: Callable, args: Vec<Val>, path: &str) -> Result<Val> {
    match f {
        Callable::OrderedDict => Ok(Val::Dict(Vec::new())),
        Callable::RebuildParameter => args.into_iter().next().ok_or_else(|| refuse(path, "empty _rebuild_parameter".into())),
        Callable::RebuildTensor => {
            let [storage, offset, size, stride, ..] = args.as_slice() else {
                return Err(refuse(path, "_rebuild_tensor_v2 with too few arguments".into()));
            };
            let Val::Storage { key, dtype } = storage else {
                return Err(refuse(path, "tensor without a storage".into()));
            };
            let Val::Int(offset) = offset else {
                return Err(refuse(path, "tensor offset is not an integer".into()));
            };
            let shape = usizes(size, "size", path)?;
            let stride = usizes(stride, "stride", path)?;
            if shape.len() != stride.len() {
                return Err(refuse(path, "tensor size and stride differ in length".into()));
            }
            Ok(Val::Tensor(TensorRef { storage: key.clone(), dtype: *dtype, offset: *offset as usize, shape, stride }))
        }
        Callable::Storage(_) => Err(refuse(path, "a storage type called directly".into())),
    }
}

struct Machine<'a> {
    b: &'a [u8],
    i: usize,
    path: &'a str,
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let s = self.b.get(self.i..self.i + n).ok_or_else(|| refuse(self.path, "the pickle ends early".into()))?;
        self.i += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn line(&mut self) -> Result<String> {
        let end = self.b[self.i..].iter().position(|&c| c == b'\n').ok_or_else(|| refuse(self.path, "unterminated GLOBAL".into()))?;
        let s = String::from_utf8_lossy(&self.b[self.i..self.i + end]).into_owned();
        self.i += end + 1;
        Ok(s)
    }
    fn text(&mut self, n: usize) -> Result<String> {
        let path = self.path;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| refuse(path, "invalid UTF-8 string".into()))
    }
}

fn pop_mark(stack: &mut Vec<Val>, path: &str) -> Result<Vec<Val>> {
    let at = stack.iter().rposition(|v| matches!(v, Val::Mark)).ok_or_else(|| refuse(path, "MARK missing".into()))?;
    let items = stack.split_off(at + 1);
    stack.pop();
    Ok(items)
}

/// Runs the pickle as data and returns its value.
fn load(bytes: &[u8], path: &str) -> Result<Val> {
    let mut m = Machine { b: bytes, i: 0, path };
    let mut stack: Vec<Val> = Vec::new();
    let mut memo: std::collections::HashMap<u32, Val> = std::collections::HashMap::new();
    let under = |path: &str| refuse(path, "stack underflow (corrupt pickle)".into());
    loop {
        let op = m.u8()?;
        match op {
            0x80 => {
                m.u8()?; // PROTO
            }
            0x95 => {
                m.take(8)?; // FRAME
            }
            b'.' => return stack.pop().ok_or_else(|| under(path)),
            b'(' => stack.push(Val::Mark),
            b'}' => stack.push(Val::Dict(Vec::new())),
            b']' => stack.push(Val::List(Vec::new())),
            b')' => stack.push(Val::Tuple(Vec::new())),
            b'N' => stack.push(Val::None),
            0x88 => stack.push(Val::Bool),
            0x89 => stack.push(Val::Bool),
            b'J' => {
                let v = m.u32()? as i32;
                stack.push(Val::Int(v as i64));
            }
            b'K' => {
                let v = m.u8()?;
                stack.push(Val::Int(v as i64));
            }
            b'M' => {
                let v = u16::from_le_bytes(m.take(2)?.try_into().unwrap());
                stack.push(Val::Int(v as i64));
            }
            0x8a => {
                let n = m.u8()? as usize;
                let b = m.take(n)?;
                let mut v: i64 = 0;
                for (k, byte) in b.iter().enumerate().take(8) {
                    v |= (*byte as i64) << (8 * k);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Val::Int(v));
            }
            b'G' => {
                m.take(8)?;
                stack.push(Val::Float);
            }
            b'X' => {
                let n = m.u32()? as usize;
                let s = m.text(n)?;
                stack.push(Val::Str(s));
            }
            0x8c => {
                let n = m.u8()? as usize;
                let s = m.text(n)?;
                stack.push(Val::Str(s));
            }
            b'q' => {
                let k = m.u8()? as u32;
                memo.insert(k, stack.last().cloned().ok_or_else(|| under(path))?);
            }
            b'r' => {
                let k = m.u32()?;
                memo.insert(k, stack.last().cloned().ok_or_else(|| under(path))?);
            }
            0x94 => {
                let k = memo.len() as u32;
                memo.insert(k, stack.last().cloned().ok_or_else(|| under(path))?);
            }
            b'h' | b'j' => {
                let k = if op == b'h' { m.u8()? as u32 } else { m.u32()? };
                stack.push(memo.get(&k).cloned().ok_or_else(|| refuse(path, format!("memo {k} missing")))?);
            }
            b'c' => {
                let module = m.line()?;
                let name = m.line()?;
                stack.push(Val::Global(global(&module, &name, path)?));
            }
            0x93 => {
                let name = stack.pop().ok_or_else(|| under(path))?;
                let module = stack.pop().ok_or_else(|| under(path))?;
                let (Val::Str(module), Val::Str(name)) = (module, name) else {
                    return Err(refuse(path, "STACK_GLOBAL without names".into()));
                };
                stack.push(Val::Global(global(&module, &name, path)?));
            }
            b't' => {
                let items = pop_mark(&mut stack, path)?;
                stack.push(Val::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err(under(path));
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Val::Tuple(items));
            }
            b'Q' => {
                // BINPERSID: ('storage', StorageType, key, location, numel)
                let pid = stack.pop().ok_or_else(|| under(path))?;
                let Val::Tuple(items) = pid else {
                    return Err(refuse(path, "persistent id is not a tuple".into()));
                };
                match items.as_slice() {
                    [Val::Str(kind), Val::Global(Callable::Storage(dtype)), Val::Str(key), ..] if kind == "storage" => {
                        stack.push(Val::Storage { key: key.clone(), dtype: *dtype });
                    }
                    _ => {
                        return Err(refuse(path, "unknown persistent id (not a torch storage)".into()));
                    }
                }
            }
            b'R' => {
                let args = stack.pop().ok_or_else(|| under(path))?;
                let f = stack.pop().ok_or_else(|| under(path))?;
                let (Val::Global(f), Val::Tuple(args)) = (f, args) else {
                    return Err(refuse(path, "REDUCE on something that is not an allowed callable".into()));
                };
                stack.push(call(f, args, path)?);
            }
            b'b' => {
                // BUILD: state for the object below (OrderedDict metadata): ignored.
                stack.pop().ok_or_else(|| under(path))?;
                if !matches!(stack.last(), Some(Val::Dict(_) | Val::Tensor(_))) {
                    return Err(refuse(path, "BUILD on an object that is not a dict or tensor".into()));
                }
            }
            b's' => {
                let v = stack.pop().ok_or_else(|| under(path))?;
                let k = stack.pop().ok_or_else(|| under(path))?;
                match stack.last_mut() {
                    Some(Val::Dict(d)) => d.push((k, v)),
                    _ => return Err(refuse(path, "SETITEM outside a dict".into())),
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack, path)?;
                match stack.last_mut() {
                    Some(Val::Dict(d)) => {
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            d.push((k, v));
                        }
                    }
                    _ => return Err(refuse(path, "SETITEMS outside a dict".into())),
                }
            }
            b'a' => {
                let v = stack.pop().ok_or_else(|| under(path))?;
                match stack.last_mut() {
                    Some(Val::List(l)) => l.push(v),
                    _ => return Err(refuse(path, "APPEND outside a list".into())),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack, path)?;
                match stack.last_mut() {
                    Some(Val::List(l)) => l.extend(items),
                    _ => return Err(refuse(path, "APPENDS outside a list".into())),
                }
            }
            other => {
                return Err(refuse(
                    path,
                    format!("pickle opcode 0x{other:02x} at byte {} is not one torch.save writes for a state dict", m.i - 1),
                ));
            }
        }
    }
}

/// The `(key, tensor)` pairs of a pickled state dict, in file order. A dict whose tensors sit
/// under `state_dict` or `model` (training checkpoints) is accepted too.
pub fn state_dict(bytes: &[u8], path: &str) -> Result<Vec<(String, TensorRef)>> {
    let mut top = load(bytes, path)?;
    if let Val::Dict(d) = &top {
        if let Some((_, inner)) =
            d.iter().find(|(k, v)| matches!(k, Val::Str(s) if s == "state_dict" || s == "model") && matches!(v, Val::Dict(_)))
        {
            top = inner.clone();
        }
    }
    let Val::Dict(items) = top else {
        return Err(refuse(path, "the pickle does not hold a dict of tensors".into()));
    };
    let mut out = Vec::new();
    for (k, v) in items {
        match (k, v) {
            (Val::Str(k), Val::Tensor(t)) => out.push((k, t)),
            (Val::Str(_), Val::None | Val::Bool | Val::Int(_) | Val::Float | Val::Str(_)) => {} // metadata entries
            (k, _) => return Err(refuse(path, format!("entry {k:?} is not a tensor"))),
        }
    }
    Ok(out)
}
