//! The pickle of a PyTorch state dict, read as data only.
//!
//! A pickle is a program for a small stack machine, and `torch.load` without `weights_only`
//! will call any function a file names. This reader runs no code: it knows the handful of
//! opcodes `torch.save` emits and exactly these callables, which it interprets itself:
//! `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `torch._utils._rebuild_parameter` and the `torch.*Storage` types (as persistent ids). A file
//! that names anything else (`os.system`, `builtins.eval`, a `__reduce__` payload of any kind)
//! is refused with a message naming it.

use std::collections::HashMap;
use std::rc::Rc;

use safetensors::Dtype;

use crate::error::{Error, Result};

/// Largest `data.pkl` read: a state dict's pickle holds only names and tensor metadata (about
/// 200 bytes a tensor), so 64 MB is hundreds of thousands of tensors.
pub const MAX_PICKLE_BYTES: u64 = 64 << 20;
/// Deepest nesting of containers accepted (a state dict nests 4 deep, a training checkpoint
/// with optimiser state about 8). Deeper values are refused before they are built, so nothing
/// recurses deeper than this (drops, prints).
pub const MAX_DEPTH: usize = 64;
/// Most memo entries (one per distinct object `torch.save` writes: a few per tensor).
pub const MAX_MEMO: usize = 1 << 22;
/// Most dimensions a tensor may have.
pub const MAX_DIMS: usize = 16;

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

/// A container's items, shared rather than copied: a memo lookup (`BINGET`) costs one
/// reference count, so a small file cannot grow by cloning values it refers to again and again.
#[derive(Debug, Clone)]
struct Seq<T> {
    items: Rc<Vec<T>>,
    /// Nesting depth of the deepest value inside, this container included.
    depth: usize,
}

impl<T: Clone> Seq<T> {
    fn new(items: Vec<T>, depth: usize) -> Self {
        Self { items: Rc::new(items), depth }
    }
    /// The items for appending (copied only when the memo or another value shares them).
    fn items_mut(&mut self) -> &mut Vec<T> {
        Rc::make_mut(&mut self.items)
    }
}

#[derive(Debug, Clone)]
enum Val {
    None,
    Bool,
    Int(i64),
    Float,
    Str(Rc<str>),
    Tuple(Seq<Val>),
    List(Seq<Val>),
    Dict(Seq<(Val, Val)>),
    Global(Callable),
    Storage { key: Rc<str>, dtype: Dtype },
    Tensor(Rc<TensorRef>),
}

impl Val {
    fn depth(&self) -> usize {
        match self {
            Val::Tuple(s) | Val::List(s) => s.depth,
            Val::Dict(s) => s.depth,
            Val::Tensor(_) => 2,
            _ => 1,
        }
    }

    /// What the value is, for messages (never the value itself: a shared value can be huge).
    fn kind(&self) -> &'static str {
        match self {
            Val::None => "None",
            Val::Bool => "a bool",
            Val::Int(_) => "an int",
            Val::Float => "a float",
            Val::Str(_) => "a string",
            Val::Tuple(_) => "a tuple",
            Val::List(_) => "a list",
            Val::Dict(_) => "a dict",
            Val::Global(_) => "a callable",
            Val::Storage { .. } => "a storage",
            Val::Tensor(_) => "a tensor",
        }
    }
}

/// The depth of a container holding `items` (1 + the deepest item), or an error past [`MAX_DEPTH`].
fn depth_of<'a>(items: impl IntoIterator<Item = &'a Val>, path: &str) -> Result<usize> {
    let d = 1 + items.into_iter().map(Val::depth).max().unwrap_or(0);
    if d > MAX_DEPTH {
        return Err(refuse(path, format!("values nest more than {MAX_DEPTH} deep (a state dict nests about 4)")));
    }
    Ok(d)
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
    let (Val::Tuple(s) | Val::List(s)) = v else {
        return Err(refuse(path, format!("tensor {what} is {}, not a tuple", v.kind())));
    };
    if s.items.len() > MAX_DIMS {
        return Err(refuse(path, format!("tensor {what} has {} dimensions (at most {MAX_DIMS})", s.items.len())));
    }
    s.items
        .iter()
        .map(|x| match x {
            Val::Int(i) => usize::try_from(*i).map_err(|_| refuse(path, format!("tensor {what} holds {i}, which is negative"))),
            other => Err(refuse(path, format!("tensor {what} holds {}, not an integer", other.kind()))),
        })
        .collect()
}

fn call(f: Callable, args: &[Val], path: &str) -> Result<Val> {
    match f {
        Callable::OrderedDict => Ok(Val::Dict(Seq::new(Vec::new(), 1))),
        Callable::RebuildParameter => args.first().cloned().ok_or_else(|| refuse(path, "empty _rebuild_parameter".into())),
        Callable::RebuildTensor => {
            let [storage, offset, size, stride, ..] = args else {
                return Err(refuse(path, "_rebuild_tensor_v2 with too few arguments".into()));
            };
            let Val::Storage { key, dtype } = storage else {
                return Err(refuse(path, "tensor without a storage".into()));
            };
            let Val::Int(offset) = offset else {
                return Err(refuse(path, "tensor offset is not an integer".into()));
            };
            let offset = usize::try_from(*offset).map_err(|_| refuse(path, format!("tensor storage offset {offset} is negative")))?;
            let shape = usizes(size, "size", path)?;
            let stride = usizes(stride, "stride", path)?;
            if shape.len() != stride.len() {
                return Err(refuse(path, "tensor size and stride differ in length".into()));
            }
            let t = TensorRef { storage: key.to_string(), dtype: *dtype, offset, shape, stride };
            t.span().map_err(|m| refuse(path, format!("tensor in storage `{key}`: {m}")))?;
            Ok(Val::Tensor(Rc::new(t)))
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
        let s = self
            .i
            .checked_add(n)
            .and_then(|end| self.b.get(self.i..end))
            .ok_or_else(|| refuse(self.path, "the pickle ends early".into()))?;
        self.i += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn line(&mut self) -> Result<String> {
        let end = self.b[self.i..].iter().position(|&c| c == b'\n').ok_or_else(|| refuse(self.path, "unterminated GLOBAL".into()))?;
        let s = String::from_utf8_lossy(&self.b[self.i..self.i + end]).into_owned();
        self.i += end + 1;
        Ok(s)
    }
    fn text(&mut self, n: usize) -> Result<Rc<str>> {
        let path = self.path;
        std::str::from_utf8(self.take(n)?).map(Rc::from).map_err(|_| refuse(path, "invalid UTF-8 string".into()))
    }
}

/// The value stack and its marks (kept apart, as CPython's unpickler does, so finding the
/// last mark costs nothing however long the stack).
struct Stack<'a> {
    vals: Vec<Val>,
    marks: Vec<usize>,
    path: &'a str,
}

impl Stack<'_> {
    fn push(&mut self, v: Val) {
        self.vals.push(v);
    }
    fn pop(&mut self) -> Result<Val> {
        if self.marks.last().is_some_and(|&m| m >= self.vals.len()) {
            return Err(refuse(self.path, "a value was taken from below a MARK (corrupt pickle)".into()));
        }
        self.vals.pop().ok_or_else(|| refuse(self.path, "stack underflow (corrupt pickle)".into()))
    }
    fn last(&self) -> Result<&Val> {
        self.vals.last().ok_or_else(|| refuse(self.path, "stack underflow (corrupt pickle)".into()))
    }
    fn last_mut(&mut self) -> Option<&mut Val> {
        self.vals.last_mut()
    }
    /// The values above the last MARK, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Val>> {
        let at = self.marks.pop().ok_or_else(|| refuse(self.path, "MARK missing".into()))?;
        Ok(self.vals.split_off(at))
    }
}

/// Runs the pickle as data and returns its value.
fn load(bytes: &[u8], path: &str) -> Result<Val> {
    if bytes.len() as u64 > MAX_PICKLE_BYTES {
        return Err(refuse(path, format!("data.pkl is {} bytes, more than the {MAX_PICKLE_BYTES} a state dict can need", bytes.len())));
    }
    let mut m = Machine { b: bytes, i: 0, path };
    let mut stack = Stack { vals: Vec::new(), marks: Vec::new(), path };
    let mut memo: HashMap<u32, Val> = HashMap::new();
    loop {
        let op = m.u8()?;
        match op {
            0x80 => {
                m.u8()?; // PROTO
            }
            0x95 => {
                m.take(8)?; // FRAME
            }
            b'.' => return stack.pop(),
            b'(' => stack.marks.push(stack.vals.len()),
            b'0' => {
                stack.pop()?; // POP
            }
            b'1' => {
                stack.pop_mark()?; // POP_MARK
            }
            b'}' => stack.push(Val::Dict(Seq::new(Vec::new(), 1))),
            b']' => stack.push(Val::List(Seq::new(Vec::new(), 1))),
            b')' => stack.push(Val::Tuple(Seq::new(Vec::new(), 1))),
            b'N' => stack.push(Val::None),
            0x88 | 0x89 => stack.push(Val::Bool),
            b'J' => {
                let v = m.u32()? as i32;
                stack.push(Val::Int(v as i64));
            }
            b'K' => {
                let v = m.u8()?;
                stack.push(Val::Int(v as i64));
            }
            b'M' => {
                let v = m.u16()?;
                stack.push(Val::Int(v as i64));
            }
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = m.u8()? as usize;
                let b = m.take(n)?;
                if n > 8 {
                    return Err(refuse(path, format!("an integer of {n} bytes (at most 8 are meaningful for a tensor)")));
                }
                let mut v: i64 = 0;
                for (k, byte) in b.iter().enumerate() {
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
            b'q' | b'r' | 0x94 => {
                let k = match op {
                    b'q' => m.u8()? as u32,
                    b'r' => m.u32()?,
                    _ => memo.len() as u32, // MEMOIZE
                };
                if memo.len() >= MAX_MEMO && !memo.contains_key(&k) {
                    return Err(refuse(path, format!("more than {MAX_MEMO} memo entries")));
                }
                memo.insert(k, stack.last()?.clone());
            }
            b'h' | b'j' => {
                let k = if op == b'h' { m.u8()? as u32 } else { m.u32()? };
                let v = memo.get(&k).cloned().ok_or_else(|| refuse(path, format!("memo {k} missing")))?;
                stack.push(v);
            }
            b'c' => {
                let module = m.line()?;
                let name = m.line()?;
                stack.push(Val::Global(global(&module, &name, path)?));
            }
            0x93 => {
                let name = stack.pop()?;
                let module = stack.pop()?;
                let (Val::Str(module), Val::Str(name)) = (module, name) else {
                    return Err(refuse(path, "STACK_GLOBAL without names".into()));
                };
                stack.push(Val::Global(global(&module, &name, path)?));
            }
            b't' => {
                let items = stack.pop_mark()?;
                let d = depth_of(&items, path)?;
                stack.push(Val::Tuple(Seq::new(items, d)));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(stack.pop()?);
                }
                items.reverse();
                let d = depth_of(&items, path)?;
                stack.push(Val::Tuple(Seq::new(items, d)));
            }
            b'Q' => {
                // BINPERSID: ('storage', StorageType, key, location, numel)
                let pid = stack.pop()?;
                let Val::Tuple(items) = pid else {
                    return Err(refuse(path, "persistent id is not a tuple".into()));
                };
                match items.items.as_slice() {
                    [Val::Str(kind), Val::Global(Callable::Storage(dtype)), Val::Str(key), ..] if &**kind == "storage" => {
                        stack.push(Val::Storage { key: key.clone(), dtype: *dtype });
                    }
                    _ => {
                        return Err(refuse(path, "unknown persistent id (not a torch storage)".into()));
                    }
                }
            }
            b'R' => {
                let args = stack.pop()?;
                let f = stack.pop()?;
                let (Val::Global(f), Val::Tuple(args)) = (f, args) else {
                    return Err(refuse(path, "REDUCE on something that is not an allowed callable".into()));
                };
                stack.push(call(f, &args.items, path)?);
            }
            b'b' => {
                // BUILD: state for the object below (OrderedDict metadata): ignored.
                stack.pop()?;
                if !matches!(stack.last()?, Val::Dict(_) | Val::Tensor(_)) {
                    return Err(refuse(path, "BUILD on an object that is not a dict or tensor".into()));
                }
            }
            b's' => {
                let v = stack.pop()?;
                let k = stack.pop()?;
                insert(stack.last_mut(), vec![k, v], path)?;
            }
            b'u' => {
                let items = stack.pop_mark()?;
                insert(stack.last_mut(), items, path)?;
            }
            b'a' => {
                let v = stack.pop()?;
                append(stack.last_mut(), vec![v], path)?;
            }
            b'e' => {
                let items = stack.pop_mark()?;
                append(stack.last_mut(), items, path)?;
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

/// SETITEM(S): `kv` (key, value, key, value, ...) into the dict `target`.
fn insert(target: Option<&mut Val>, kv: Vec<Val>, path: &str) -> Result<()> {
    let Some(Val::Dict(d)) = target else {
        return Err(refuse(path, "SETITEM outside a dict".into()));
    };
    let depth = depth_of(&kv, path)?.max(d.depth);
    let items = d.items_mut();
    let mut it = kv.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        items.push((k, v));
    }
    d.depth = depth;
    Ok(())
}

/// APPEND(S): `vals` onto the list `target`.
fn append(target: Option<&mut Val>, vals: Vec<Val>, path: &str) -> Result<()> {
    let Some(Val::List(l)) = target else {
        return Err(refuse(path, "APPEND outside a list".into()));
    };
    l.depth = depth_of(&vals, path)?.max(l.depth);
    l.items_mut().extend(vals);
    Ok(())
}

/// The `(key, tensor)` pairs of a pickled state dict, in file order. A dict whose tensors sit
/// under `state_dict` or `model` (training checkpoints) is accepted too.
pub fn state_dict(bytes: &[u8], path: &str) -> Result<Vec<(String, TensorRef)>> {
    let mut top = load(bytes, path)?;
    if let Val::Dict(d) = &top {
        if let Some((_, inner)) =
            d.items.iter().find(|(k, v)| matches!(k, Val::Str(s) if &**s == "state_dict" || &**s == "model") && matches!(v, Val::Dict(_)))
        {
            top = inner.clone();
        }
    }
    let Val::Dict(items) = top else {
        return Err(refuse(path, format!("the pickle holds {}, not a dict of tensors", top.kind())));
    };
    let mut out = Vec::new();
    for (k, v) in items.items.iter() {
        match (k, v) {
            (Val::Str(k), Val::Tensor(t)) => out.push((k.to_string(), TensorRef::clone(t))),
            (Val::Str(_), Val::None | Val::Bool | Val::Int(_) | Val::Float | Val::Str(_)) => {} // metadata entries
            (Val::Str(k), other) => return Err(refuse(path, format!("entry `{k}` is {}, not a tensor", other.kind()))),
            (k, _) => return Err(refuse(path, format!("a key is {}, not a name", k.kind()))),
        }
    }
    Ok(out)
}
