//! Rendering a project's files from the minijinja templates embedded in the binary: the one
//! environment the templated targets share, rendering a template, and a file the user owns
//! regenerated with stubs for what it lacks.
//!
//! A template that does not parse or does not render with the context an emitter computed is
//! a bug in luagen, never in the manifest, so both panic with the template's name.

use std::path::PathBuf;

use minijinja::Environment;
use serde::Serialize;

use crate::emit::project::GeneratedFile;

/// An environment holding `templates` (name, source), set up for source code and Markdown.
pub(crate) fn environment(templates: &[(&'static str, &'static str)]) -> Environment<'static> {
    let mut env = Environment::new();
    // A generated file ends with a newline, as its template does.
    env.set_keep_trailing_newline(true);
    // A name the context lacks is an emitter's bug: an error, never an empty string in a file.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    add(&mut env, templates.iter().copied());
    env
}

/// Adds `templates` (name, source) to `env`, for an environment set up otherwise.
pub(crate) fn add(
    env: &mut Environment<'static>,
    templates: impl IntoIterator<Item = (&'static str, &'static str)>,
) {
    for (name, source) in templates {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name} does not parse: {e:#}"));
    }
}

/// The template `name` of `env` rendered with `ctx`.
pub(crate) fn render(env: &Environment<'_>, name: &str, ctx: impl Serialize) -> String {
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| panic!("template {name} is broken: {e:#}"))
}

/// A file the user owns, at `path`: `fresh()` while there is none (`existing`); else the
/// user's text, untouched, followed by `stubs(existing)` (what it lacks, rendered) on lines of
/// their own, or the user's text alone when it lacks nothing.
pub(crate) fn user_file(
    path: impl Into<PathBuf>,
    existing: Option<&str>,
    fresh: impl FnOnce() -> String,
    stubs: impl FnOnce(&str) -> String,
) -> GeneratedFile {
    let Some(existing) = existing else {
        return GeneratedFile::user(path, fresh());
    };
    let added = stubs(existing);
    if added.is_empty() {
        return GeneratedFile::user(path, existing.to_string());
    }
    // Generated, so that writing replaces the file on disk (a user's file is kept); its text
    // is the user's, untouched, with the stubs after it.
    let newline = if existing.ends_with('\n') { "" } else { "\n" };
    GeneratedFile::generated(path, format!("{existing}{newline}{added}"))
}
