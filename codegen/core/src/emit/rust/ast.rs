//! Small constructors for syn syntax trees, so the largest generated part (the schema checks)
//! is built as the tree syn would parse from its tokens instead of as tokens to be parsed
//! again: `luagen rust` formats the tree directly, the proc-macro prints it to tokens.
//!
//! Each constructor builds exactly what syn's parser returns for the same text (the same
//! nodes, separators and trailing punctuation), so the formatted output is unchanged.

use proc_macro2::{Literal, Span};
use syn::punctuated::Punctuated;
use syn::{
    Block, Expr, ExprArray, ExprBlock, ExprCall, ExprClosure, ExprLit, ExprMethodCall, ExprPath,
    ExprReference, ExprTry, ExprTuple, Ident, Lit, LitBool, LitStr, Pat, PatIdent, PatTuple,
    PatWild, Path, PathSegment, ReturnType, Stmt,
};

/// An identifier; `r#name` makes a raw one, as `format_ident!` does.
pub fn ident(name: &str) -> Ident {
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::call_site()),
        None => Ident::new(name, Span::call_site()),
    }
}

/// `a::b::c`, or `::a::b::c` when `global`.
pub fn path(global: bool, segments: &[&str]) -> Path {
    Path {
        leading_colon: global.then(Default::default),
        segments: segments
            .iter()
            .map(|s| PathSegment::from(ident(s)))
            .collect(),
    }
}

pub fn path_expr(global: bool, segments: &[&str]) -> Expr {
    Expr::Path(ExprPath {
        attrs: Vec::new(),
        qself: None,
        path: path(global, segments),
    })
}

/// A local variable (or any single-segment path).
pub fn var(name: &str) -> Expr {
    path_expr(false, &[name])
}

pub fn call(func: Expr, args: impl IntoIterator<Item = Expr>) -> Expr {
    Expr::Call(ExprCall {
        attrs: Vec::new(),
        func: Box::new(func),
        paren_token: Default::default(),
        args: args.into_iter().collect(),
    })
}

pub fn method(receiver: Expr, name: &str, args: impl IntoIterator<Item = Expr>) -> Expr {
    Expr::MethodCall(ExprMethodCall {
        attrs: Vec::new(),
        receiver: Box::new(receiver),
        dot_token: Default::default(),
        method: ident(name),
        turbofish: None,
        paren_token: Default::default(),
        args: args.into_iter().collect(),
    })
}

/// `|inputs| body`
pub fn closure(inputs: impl IntoIterator<Item = Pat>, body: Expr) -> Expr {
    Expr::Closure(ExprClosure {
        attrs: Vec::new(),
        lifetimes: None,
        constness: None,
        movability: None,
        asyncness: None,
        capture: None,
        or1_token: Default::default(),
        inputs: inputs.into_iter().collect(),
        or2_token: Default::default(),
        output: ReturnType::Default,
        body: Box::new(body),
    })
}

pub fn pat(name: &str) -> Pat {
    Pat::Ident(PatIdent {
        attrs: Vec::new(),
        by_ref: None,
        mutability: None,
        ident: ident(name),
        subpat: None,
    })
}

pub fn pat_wild() -> Pat {
    Pat::Wild(PatWild {
        attrs: Vec::new(),
        underscore_token: Default::default(),
    })
}

/// `(a, b)` as a pattern.
pub fn pat_tuple(names: &[&str]) -> Pat {
    Pat::Tuple(PatTuple {
        attrs: Vec::new(),
        paren_token: Default::default(),
        elems: names.iter().map(|n| pat(n)).collect(),
    })
}

pub fn lit(lit: Lit) -> Expr {
    Expr::Lit(ExprLit {
        attrs: Vec::new(),
        lit,
    })
}

/// A literal token as syn reads it (integers, floats, and strings made by `Literal`).
pub fn literal(token: Literal) -> Expr {
    lit(Lit::new(token))
}

pub fn str_lit(value: &str) -> Expr {
    lit(Lit::Str(LitStr::new(value, Span::call_site())))
}

pub fn bool_lit(value: bool) -> Expr {
    lit(Lit::Bool(LitBool::new(value, Span::call_site())))
}

/// `&expr`
pub fn reference(expr: Expr) -> Expr {
    Expr::Reference(ExprReference {
        attrs: Vec::new(),
        and_token: Default::default(),
        mutability: None,
        expr: Box::new(expr),
    })
}

/// `[a, b, c]`
pub fn array(elems: impl IntoIterator<Item = Expr>) -> Expr {
    Expr::Array(ExprArray {
        attrs: Vec::new(),
        bracket_token: Default::default(),
        elems: elems.into_iter().collect(),
    })
}

/// `()`
pub fn unit() -> Expr {
    Expr::Tuple(ExprTuple {
        attrs: Vec::new(),
        paren_token: Default::default(),
        elems: Punctuated::new(),
    })
}

/// `expr?`
pub fn try_(expr: Expr) -> Expr {
    Expr::Try(ExprTry {
        attrs: Vec::new(),
        expr: Box::new(expr),
        question_token: Default::default(),
    })
}

pub fn block(stmts: Vec<Stmt>) -> Block {
    Block {
        brace_token: Default::default(),
        stmts,
    }
}

/// `{ stmts }` as an expression.
pub fn block_expr(stmts: Vec<Stmt>) -> Expr {
    Expr::Block(ExprBlock {
        attrs: Vec::new(),
        label: None,
        block: block(stmts),
    })
}

/// An expression statement without a semicolon (a block's value, or an `if`/`for`/`match`).
pub fn tail(expr: Expr) -> Stmt {
    Stmt::Expr(expr, None)
}

/// `expr;`
pub fn semi(expr: Expr) -> Stmt {
    Stmt::Expr(expr, Some(Default::default()))
}
