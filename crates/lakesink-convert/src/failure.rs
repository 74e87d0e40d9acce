//! Decode errors that say where in a value they happened (`customer.items[2]: ...`), shared
//! by the hand-written decoders (Avro, Protobuf).

/// A decode error: what went wrong and where, the innermost path segment first. Boxed so the
/// hot path's `Result` stays one word.
pub(crate) type Fail = Box<Failure>;

#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    path: Vec<Seg>,
}

/// One step into a value.
#[derive(Debug)]
pub(crate) enum Seg {
    Field(String),
    Index(usize),
    /// A map entry, by its key.
    Key(String),
}

/// Appends the end offset of a list of `n` items to Arrow list offsets.
pub(crate) fn push_offset(offsets: &mut Vec<i32>, n: usize) -> Result<(), Fail> {
    let last = offsets.last().copied().unwrap_or(0);
    let next = i32::try_from(n)
        .ok()
        .and_then(|n| last.checked_add(n))
        .ok_or_else(|| fail("more than 2^31 items in one batch column".into()))?;
    offsets.push(next);
    Ok(())
}

pub(crate) fn fail(message: String) -> Fail {
    Box::new(Failure {
        message,
        path: Vec::new(),
    })
}

impl Failure {
    /// The same failure, one step further out.
    pub(crate) fn at(mut self: Box<Self>, seg: Seg) -> Fail {
        self.path.push(seg);
        self
    }
    pub(crate) fn field(self: Box<Self>, name: &str) -> Fail {
        self.at(Seg::Field(name.to_string()))
    }
    pub(crate) fn index(self: Box<Self>, i: usize) -> Fail {
        self.at(Seg::Index(i))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value itself when the error is not inside a field.
        if !matches!(self.path.last(), Some(Seg::Field(_))) {
            f.write_str("value")?;
        }
        for (n, seg) in self.path.iter().rev().enumerate() {
            match seg {
                Seg::Field(name) if n == 0 => f.write_str(name)?,
                Seg::Field(name) => write!(f, ".{name}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
                Seg::Key(k) => write!(f, "[{k}]")?,
            }
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_outside_in() {
        let e = fail("bad".into()).index(2).field("items").field("order");
        assert_eq!(e.to_string(), "order.items[2]: bad");
        let e = fail("bad".into()).at(Seg::Key("k".into()));
        assert_eq!(e.to_string(), "value[k]: bad");
    }
}
