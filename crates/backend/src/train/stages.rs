//! Pipeline stages at run time: a stage's identity (the hash of its resolved recipe, which
//! holds every stage it uses) and where a finished stage's checkpoints are.

use super::run_dir;
use crate::ir::{Recipe, StageRef};
use std::path::PathBuf;

/// The hash `deitc run` records for `r` (of its RON, as `resolved.ron` holds it).
pub fn hash_of(r: &Recipe) -> String {
    run_dir::recipe_hash(&r.to_ron().unwrap_or_default())
}

/// The latest finished run of `r`, with its summary.
pub fn finished(r: &Recipe) -> Option<(PathBuf, run_dir::Summary)> {
    run_dir::finished(&run_dir::runs_of(&r.train.output, &r.name), &hash_of(r))
}

/// The checkpoint file `s` names: in the latest finished run of the stage's current recipe.
pub fn output(s: &StageRef) -> Result<PathBuf, String> {
    let Some(r) = s.recipe.as_deref() else {
        return Err(format!(
            "`{}` is used outside its pipeline; check the pipeline itself",
            s.written()
        ));
    };
    let Some((dir, _)) = finished(r) else {
        return Err(format!(
            "stage `{}` has not finished a run of its current recipe (under `{}`): \
             `deitc run <pipeline> --stage {}` trains it",
            s.stage,
            run_dir::runs_of(&r.train.output, &r.name).display(),
            s.stage
        ));
    };
    let file = dir.join(s.output.file());
    if !file.exists() {
        return Err(format!(
            "`{}`: the stage's run `{}` has no `{}`",
            s.written(),
            dir.display(),
            s.output.file()
        ));
    }
    Ok(file)
}
