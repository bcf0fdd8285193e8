//! Reading the tensors of a PyTorch `torch.save` file (the zip format, PyTorch ≥ 1.6) without
//! Python and without executing anything.
//!
//! The file is a zip archive: `<name>/data.pkl` is a pickle of the saved object, and each
//! tensor storage is a raw little-endian entry `<name>/data/<key>`. A pickle is a program for
//! a small stack machine; `pickle.load` would call whatever functions it names. This reader
//! implements the data-building opcodes only and never calls anything: a function named by
//! the pickle (`GLOBAL`) becomes an inert value, and applying it (`REDUCE`) builds a value
//! only for the few functions `torch.save` uses for a `state_dict` —
//! `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` (and `_rebuild_tensor`,
//! `_rebuild_parameter`) — and an opaque placeholder for anything else. Storages arrive as
//! persistent ids `('storage', torch.FloatStorage, key, location, numel)`.
//!
//! The state dict is the saved object's `model` entry (the official DeiT checkpoints), or its
//! `state_dict` entry, or the object itself; a `module.` prefix (DistributedDataParallel) is
//! removed. Tensors are returned as f32 (`float32`, `float64`, `float16` and `bfloat16`
//! storages); others are returned with their dtype so the caller can name them.
//!
//! Hostile input: every read is bounds-checked, sizes are capped, the machine is iterative,
//! and deeply nested values are dropped without recursion.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::rc::Rc;

/// The largest pickle (`data.pkl`) read: a state dict's pickle is a few hundred KiB.
const MAX_PICKLE: u64 = 64 << 20;

/// One tensor: its shape, and its values as f32 or the dtype it has instead.
pub type PthTensor = (Vec<usize>, Result<Vec<f32>, String>);

/// The tensors of the state dict in `bytes` (a `torch.save` zip), by key.
pub fn read(bytes: &[u8]) -> Result<BTreeMap<String, PthTensor>, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a readable zip archive: {e}"))?;
    let pkl = zip
        .file_names()
        .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
        .min_by_key(|n| n.len())
        .map(str::to_string)
        .ok_or("the archive has no `data.pkl` (not a torch.save file)")?;
    let prefix = pkl[..pkl.len() - "data.pkl".len()].to_string();
    if let Ok(order) = entry(&mut zip, &format!("{prefix}byteorder"), 16) {
        if order != b"little" {
            return Err("the tensors are stored big-endian".into());
        }
    }
    let program = entry(&mut zip, &pkl, MAX_PICKLE)?;
    let top = Machine::default().run(&program)?;
    let dict = state_dict(&top)
        .ok_or("the pickle holds no state dict (a dict of tensors, at the top or under `model`)")?;
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = BTreeMap::new();
    let strip = dict.iter().all(|(k, _)| k.starts_with("module."));
    for (key, t) in dict {
        let key = if strip {
            key["module.".len()..].to_string()
        } else {
            key
        };
        if !storages.contains_key(&t.storage) {
            let name = format!("{prefix}data/{}", t.storage);
            let data = entry(&mut zip, &name, bytes.len() as u64)?;
            storages.insert(t.storage.clone(), data);
        }
        let raw = storages
            .get(&t.storage)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let values = t.values(raw).map_err(|e| format!("`{key}`: {e}"))?;
        out.insert(key, (t.size.clone(), values));
    }
    Ok(out)
}

/// The bytes of the archive entry `name`, refusing more than `max` bytes.
fn entry<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    max: u64,
) -> Result<Vec<u8>, String> {
    let f = zip
        .by_name(name)
        .map_err(|e| format!("archive entry `{name}`: {e}"))?;
    if f.size() > max {
        return Err(format!("archive entry `{name}` is too large"));
    }
    let mut out = Vec::with_capacity(f.size() as usize);
    f.take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("archive entry `{name}`: {e}"))?;
    Ok(out)
}

// ---- values ---------------------------------------------------------------------------------

type Val = Rc<V>;

/// What the machine builds.
enum V {
    None,
    /// Booleans, floats and byte strings: read, never needed.
    Bool,
    Int(i64),
    Float,
    Str(String),
    Bytes,
    Tuple(Vec<Val>),
    List(RefCell<Vec<Val>>),
    Dict(RefCell<Vec<(Val, Val)>>),
    /// A function or class the pickle names (never called).
    Global(String, String),
    /// A tensor storage from a persistent id.
    Storage {
        key: String,
        dtype: String,
    },
    Tensor(TensorRef),
    /// The result of applying an unknown function: kept, never looked into.
    Opaque,
}

/// Nested values are dropped with an explicit stack, so that a deeply nested pickle cannot
/// overflow the call stack.
impl Drop for V {
    fn drop(&mut self) {
        let mut stack = take_children(self);
        while let Some(v) = stack.pop() {
            if let Ok(mut inner) = Rc::try_unwrap(v) {
                stack.extend(take_children(&mut inner));
            }
        }
    }
}

fn take_children(v: &mut V) -> Vec<Val> {
    match v {
        V::Tuple(items) => std::mem::take(items),
        V::List(items) => std::mem::take(&mut *items.borrow_mut()),
        V::Dict(items) => std::mem::take(&mut *items.borrow_mut())
            .into_iter()
            .flat_map(|(k, v)| [k, v])
            .collect(),
        _ => Vec::new(),
    }
}

/// A tensor view into a storage.
#[derive(Debug, Clone, PartialEq)]
struct TensorRef {
    storage: String,
    dtype: String,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

impl TensorRef {
    /// The tensor's values in row-major order, from its storage's bytes.
    fn values(&self, raw: &[u8]) -> Result<Result<Vec<f32>, String>, String> {
        let width = match self.dtype.as_str() {
            "float32" => 4,
            "float64" => 8,
            "float16" | "bfloat16" => 2,
            other => return Ok(Err(other.to_string())),
        };
        let numel = self
            .size
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .ok_or("its size overflows")?;
        let available = raw.len() / width;
        // The largest element index the view touches.
        let mut last = self.offset;
        for (&n, &s) in self.size.iter().zip(&self.stride) {
            if n > 0 {
                last = (n - 1)
                    .checked_mul(s)
                    .and_then(|x| x.checked_add(last))
                    .ok_or("its strides overflow")?;
            }
        }
        if numel > available {
            return Err(format!(
                "its view of {numel} elements repeats elements of a storage of {available}"
            ));
        }
        if numel > 0 && last >= available {
            return Err(format!(
                "its view reaches element {last} of a storage of {available}"
            ));
        }
        let at = |i: usize| -> f32 {
            let b = &raw[i * width..(i + 1) * width];
            match width {
                4 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                8 => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
                _ if self.dtype == "bfloat16" => {
                    f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)
                }
                _ => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            }
        };
        let mut out = Vec::with_capacity(numel);
        if numel == 0 {
            return Ok(Ok(out));
        }
        let mut index = vec![0usize; self.size.len()];
        loop {
            let i = self.offset
                + index
                    .iter()
                    .zip(&self.stride)
                    .map(|(a, b)| a * b)
                    .sum::<usize>();
            out.push(at(i));
            // Advance the multi-index, last axis fastest.
            let mut axis = self.size.len();
            loop {
                if axis == 0 {
                    return Ok(Ok(out));
                }
                axis -= 1;
                index[axis] += 1;
                if index[axis] < self.size[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
    }
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = man · 2^-24.
            let v = man as f32 * (1.0 / (1u32 << 24) as f32);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, _) => sign | 0x7f80_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

/// The dtype a legacy storage class stands for.
fn storage_dtype(class: &str) -> String {
    match class {
        "FloatStorage" => "float32",
        "DoubleStorage" => "float64",
        "HalfStorage" => "float16",
        "BFloat16Storage" => "bfloat16",
        "LongStorage" => "int64",
        "IntStorage" => "int32",
        "ShortStorage" => "int16",
        "CharStorage" => "int8",
        "ByteStorage" => "uint8",
        "BoolStorage" => "bool",
        other => other,
    }
    .to_string()
}

/// The tensors of the state dict inside `top`: `top["model"]`, `top["state_dict"]` or `top`.
fn state_dict(top: &Val) -> Option<Vec<(String, TensorRef)>> {
    let tensors = |v: &Val| -> Option<Vec<(String, TensorRef)>> {
        let V::Dict(items) = &**v else { return None };
        let out: Vec<(String, TensorRef)> = items
            .borrow()
            .iter()
            .filter_map(|(k, v)| match (&**k, &**v) {
                (V::Str(k), V::Tensor(t)) => Some((k.clone(), t.clone())),
                _ => None,
            })
            .collect();
        (!out.is_empty()).then_some(out)
    };
    if let V::Dict(items) = &**top {
        for name in ["model", "state_dict"] {
            let inner = items
                .borrow()
                .iter()
                .find(|(k, _)| matches!(&**k, V::Str(s) if s == name))
                .map(|(_, v)| v.clone());
            if let Some(found) = inner.as_ref().and_then(tensors) {
                return Some(found);
            }
        }
    }
    tensors(top)
}

// ---- the machine ----------------------------------------------------------------------------

#[derive(Default)]
struct Machine {
    stack: Vec<Val>,
    marks: Vec<usize>,
    memo: HashMap<u64, Val>,
}

/// A cursor over the pickle bytes.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("the pickle ends early")?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }
    fn len(&mut self, n: u64) -> Result<usize, String> {
        usize::try_from(n).map_err(|_| "a length does not fit in memory".to_string())
    }
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the pickle ends early")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(s)
    }
    fn utf8(&mut self, n: usize) -> Result<String, String> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| "a string is not UTF-8".to_string())
    }
}

fn v(x: V) -> Val {
    Rc::new(x)
}

impl Machine {
    fn pop(&mut self) -> Result<Val, String> {
        self.stack
            .pop()
            .ok_or_else(|| "the pickle pops an empty stack".to_string())
    }

    fn top(&self) -> Result<&Val, String> {
        self.stack
            .last()
            .ok_or_else(|| "the pickle reads an empty stack".to_string())
    }

    /// Everything above the last mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Val>, String> {
        let m = self.marks.pop().ok_or("the pickle has no mark to pop")?;
        if m > self.stack.len() {
            return Err("the pickle's mark is above the stack".into());
        }
        Ok(self.stack.split_off(m))
    }

    fn run(mut self, bytes: &[u8]) -> Result<Val, String> {
        let mut input = Input { bytes, at: 0 };
        loop {
            let op = input.u8()?;
            match op {
                0x80 => {
                    input.u8()?; // PROTO
                }
                0x95 => {
                    input.u64()?; // FRAME
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.marks.push(self.stack.len()),
                b')' => self.stack.push(v(V::Tuple(Vec::new()))),
                b']' => self.stack.push(v(V::List(RefCell::new(Vec::new())))),
                b'}' => self.stack.push(v(V::Dict(RefCell::new(Vec::new())))),
                0x8f => self.stack.push(v(V::List(RefCell::new(Vec::new())))), // EMPTY_SET
                b'N' => self.stack.push(v(V::None)),
                0x88 => self.stack.push(v(V::Bool)),
                0x89 => self.stack.push(v(V::Bool)),
                b'K' => {
                    let n = input.u8()?;
                    self.stack.push(v(V::Int(i64::from(n))))
                }
                b'M' => {
                    let n = input.u16()?;
                    self.stack.push(v(V::Int(i64::from(n))))
                }
                b'J' => {
                    let n = input.u32()? as i32;
                    self.stack.push(v(V::Int(i64::from(n))))
                }
                0x8a => {
                    // LONG1: n little-endian two's-complement bytes.
                    let n = usize::from(input.u8()?);
                    let b = input.take(n)?;
                    if n > 8 {
                        return Err("the pickle holds an integer wider than 64 bits".into());
                    }
                    let mut buf = if b.last().is_some_and(|x| x & 0x80 != 0) {
                        [0xff; 8]
                    } else {
                        [0; 8]
                    };
                    buf[..n].copy_from_slice(b);
                    self.stack.push(v(V::Int(i64::from_le_bytes(buf))))
                }
                b'I' => {
                    let line = input.line()?;
                    let x = match line.as_str() {
                        "01" => V::Bool,
                        "00" => V::Bool,
                        s => V::Int(s.trim().parse().map_err(|_| "a bad INT in the pickle")?),
                    };
                    self.stack.push(v(x))
                }
                b'G' => {
                    input.take(8)?;
                    self.stack.push(v(V::Float))
                }
                b'X' => {
                    let n = input.u32()?;
                    let n = input.len(u64::from(n))?;
                    let s = input.utf8(n)?;
                    self.stack.push(v(V::Str(s)))
                }
                0x8c => {
                    let n = usize::from(input.u8()?);
                    let s = input.utf8(n)?;
                    self.stack.push(v(V::Str(s)))
                }
                0x8d => {
                    let n = input.u64()?;
                    let n = input.len(n)?;
                    let s = input.utf8(n)?;
                    self.stack.push(v(V::Str(s)))
                }
                b'U' | b'C' => {
                    let n = usize::from(input.u8()?);
                    let b = input.take(n)?;
                    self.stack.push(v(if op == b'U' {
                        V::Str(String::from_utf8_lossy(b).into_owned())
                    } else {
                        V::Bytes
                    }))
                }
                b'T' | b'B' => {
                    let n = input.u32()?;
                    let n = input.len(u64::from(n))?;
                    let b = input.take(n)?;
                    self.stack.push(v(if op == b'T' {
                        V::Str(String::from_utf8_lossy(b).into_owned())
                    } else {
                        V::Bytes
                    }))
                }
                0x8e => {
                    let n = input.u64()?;
                    let n = input.len(n)?;
                    input.take(n)?;
                    self.stack.push(v(V::Bytes))
                }
                b'q' => {
                    let i = input.u8()?;
                    self.put(u64::from(i))?
                }
                b'r' => {
                    let i = input.u32()?;
                    self.put(u64::from(i))?
                }
                0x94 => {
                    let i = self.memo.len() as u64;
                    self.put(i)?
                }
                b'p' => {
                    let i = input.line()?.trim().parse().map_err(|_| "a bad PUT")?;
                    self.put(i)?
                }
                b'h' => {
                    let i = input.u8()?;
                    self.get(u64::from(i))?
                }
                b'j' => {
                    let i = input.u32()?;
                    self.get(u64::from(i))?
                }
                b'g' => {
                    let i = input.line()?.trim().parse().map_err(|_| "a bad GET")?;
                    self.get(i)?
                }
                b'c' => {
                    let module = input.line()?;
                    let name = input.line()?;
                    self.stack.push(v(V::Global(module, name)))
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (V::Str(m), V::Str(n)) = (&*module, &*name) else {
                        return Err("STACK_GLOBAL on non-strings".into());
                    };
                    self.stack.push(v(V::Global(m.clone(), n.clone())))
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(v(V::Tuple(items)))
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return Err("a tuple of more items than the stack holds".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(v(V::Tuple(items)))
                }
                b'l' | 0x91 => {
                    let items = self.pop_mark()?;
                    self.stack.push(v(V::List(RefCell::new(items))))
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.stack.push(v(V::Dict(RefCell::new(pairs))))
                }
                b'a' => {
                    let x = self.pop()?;
                    self.append(vec![x])?
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    self.append(items)?
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(vec![(key, value)])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.set_items(pairs)?
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?.clone();
                    self.stack.push(t)
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = persistent(&pid)?;
                    self.stack.push(v(storage))
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let out = reduce(&f, &args)?;
                    self.stack.push(v(out))
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let out = reduce(&cls, &args)?;
                    self.stack.push(v(out))
                }
                b'b' => {
                    // BUILD sets an object's state (e.g. an OrderedDict's `_metadata`): kept
                    // out of every value this reader returns.
                    self.pop()?;
                    self.top()?;
                }
                other => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{other:02x} at byte {}",
                        input.at - 1
                    ))
                }
            }
        }
    }

    fn put(&mut self, i: u64) -> Result<(), String> {
        let t = self.top()?.clone();
        self.memo.insert(i, t);
        Ok(())
    }

    fn get(&mut self, i: u64) -> Result<(), String> {
        let x = self
            .memo
            .get(&i)
            .cloned()
            .ok_or_else(|| format!("the pickle reads memo slot {i}, never written"))?;
        self.stack.push(x);
        Ok(())
    }

    fn append(&mut self, items: Vec<Val>) -> Result<(), String> {
        match &**self.top()? {
            V::List(l) => l.borrow_mut().extend(items),
            V::Opaque => {}
            _ => return Err("the pickle appends to a non-list".into()),
        }
        Ok(())
    }

    fn set_items(&mut self, pairs: Vec<(Val, Val)>) -> Result<(), String> {
        match &**self.top()? {
            V::Dict(d) => {
                let mut d = d.borrow_mut();
                for (k, val) in pairs {
                    // Later keys replace earlier ones, as in a dict.
                    if let V::Str(ks) = &*k {
                        d.retain(|(old, _)| !matches!(&**old, V::Str(s) if s == ks));
                    }
                    d.push((k, val));
                }
            }
            V::Opaque => {}
            _ => return Err("the pickle sets items of a non-dict".into()),
        }
        Ok(())
    }
}

fn pairs(items: Vec<Val>) -> Result<Vec<(Val, Val)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("the pickle sets a key without a value".into());
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(val)) = (it.next(), it.next()) {
        out.push((k, val));
    }
    Ok(out)
}

/// `('storage', torch.FloatStorage, key, location, numel)`.
fn persistent(pid: &Val) -> Result<V, String> {
    let V::Tuple(items) = &**pid else {
        return Err("a persistent id that is not a tuple".into());
    };
    match items.as_slice() {
        [tag, class, key, ..] if matches!(&**tag, V::Str(s) if s == "storage") => {
            let dtype = match &**class {
                V::Global(_, name) => storage_dtype(name),
                _ => return Err("a storage of unknown type".into()),
            };
            let key = match &**key {
                V::Str(s) => s.clone(),
                V::Int(i) => i.to_string(),
                _ => return Err("a storage key that is not a string".into()),
            };
            if key.contains(['/', '\\']) || key.contains("..") {
                return Err(format!("a storage key `{key}` that is not a plain name"));
            }
            Ok(V::Storage { key, dtype })
        }
        _ => Err("a persistent id that is not a storage".into()),
    }
}

fn ints(v: &Val) -> Result<Vec<usize>, String> {
    let V::Tuple(items) = &**v else {
        return Err("a tensor size or stride that is not a tuple".into());
    };
    items
        .iter()
        .map(|x| match &**x {
            V::Int(i) => usize::try_from(*i).map_err(|_| "a negative size or stride".to_string()),
            _ => Err("a tensor size or stride that is not an integer".into()),
        })
        .collect()
}

/// Applying the function `f` to `args`, for the functions a `state_dict` uses; an opaque
/// value for any other.
fn reduce(f: &Val, args: &Val) -> Result<V, String> {
    let V::Global(module, name) = &**f else {
        return Ok(V::Opaque);
    };
    let args: &[Val] = match &**args {
        V::Tuple(a) => a,
        _ => &[],
    };
    Ok(match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") | ("builtins" | "__builtin__", "dict") => {
            V::Dict(RefCell::new(Vec::new()))
        }
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
            let [storage, offset, size, stride, ..] = args else {
                return Err("a tensor rebuilt from too few arguments".into());
            };
            let V::Storage { key, dtype } = &**storage else {
                return Err("a tensor rebuilt without a storage".into());
            };
            let V::Int(offset) = &**offset else {
                return Err("a tensor offset that is not an integer".into());
            };
            let size = ints(size)?;
            let stride = ints(stride)?;
            if size.len() != stride.len() {
                return Err("a tensor whose size and stride differ in length".into());
            }
            V::Tensor(TensorRef {
                storage: key.clone(),
                dtype: dtype.clone(),
                offset: usize::try_from(*offset).map_err(|_| "a negative tensor offset")?,
                size,
                stride,
            })
        }
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            match args.first().map(|a| &**a) {
                Some(V::Tensor(t)) => V::Tensor(t.clone()),
                _ => return Err("a parameter rebuilt from a non-tensor".into()),
            }
        }
        _ => V::Opaque,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn strided_views_are_gathered_row_major() {
        let raw: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        // A transposed 2×3 storage read as 3×2.
        let t = TensorRef {
            storage: "0".into(),
            dtype: "float32".into(),
            offset: 0,
            size: vec![3, 2],
            stride: vec![1, 3],
        };
        assert_eq!(t.values(&raw), Ok(Ok(vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0])));
        let out_of_range = TensorRef {
            offset: 1,
            size: vec![6],
            stride: vec![1],
            ..t.clone()
        };
        assert!(out_of_range.values(&raw).is_err());
        let ints = TensorRef {
            dtype: "int64".into(),
            ..t
        };
        assert_eq!(ints.values(&raw), Ok(Err("int64".into())));
    }

    #[test]
    fn a_deeply_nested_pickle_is_dropped_without_recursion() {
        // [] then 200k times: BINPUT, EMPTY_LIST, APPEND... builds [[[…]]] through the memo.
        // The outermost list stays in memo slot 1, so the whole chain is alive at the end.
        let mut p = vec![0x80, 2, b']', b'q', 1];
        for _ in 0..200_000 {
            // stack: [outer]; memo the new inner list, append it, fetch it back.
            p.extend_from_slice(&[b']', b'q', 0, b'a', b'0', b'h', 0]);
        }
        p.push(b'.');
        let out = Machine::default().run(&p);
        assert!(out.is_ok());
    }

    #[test]
    fn every_single_byte_change_of_a_real_pickle_is_read_or_refused_without_panicking() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/interop/vit_plain.pth"
        ))
        .expect("fixture");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).expect("zip");
        let program = entry(&mut zip, "archive/data.pkl", MAX_PICKLE).expect("pickle");
        let top = Machine::default().run(&program).expect("the fixture reads");
        assert_eq!(state_dict(&top).map(|d| d.len()), Some(32));
        for i in 0..program.len() {
            for b in [0x00, 0x2e, 0x80, 0xff, program[i] ^ 0x01] {
                let mut p = program.clone();
                p[i] = b;
                if let Ok(top) = Machine::default().run(&p) {
                    let _ = state_dict(&top);
                }
            }
            let _ = Machine::default().run(&program[..i]);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\x80\x02",
            b"(t\x85",
            b"h\x05.",
            b"\xff",
            b"X\xff\xff\xff\xff",
        ] {
            assert!(Machine::default().run(bytes).is_err(), "{bytes:?}");
        }
    }
}
