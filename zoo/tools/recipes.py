"""Paper recipes: each paper's training setup as a YAML file in `recipes/`, run by `train.py --recipe NAME`.

A recipe names the paper, the dataset folder it expects under `../shared/data`, and one entry per
train.py setting with its `value` and where it comes from: `paper:` (what the paper gave, quoted from
the paper) and/or `chosen:` (what the paper leaves out, or what train.py cannot do yet, and why we picked
this value). `not_reproduced:` lists the paper's settings train.py has no switch for. Explicit flags
override a recipe; the run's config.json records the recipe, its resolved values and what was overridden.

Checking is strict and tied to the live code: a setting must be a train.py flag, a model must be in the
registry, a loss/optimizer/schedule among the parser's choices, so a recipe that names something this
checkout lacks fails with one line naming the file and the key.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPES_DIR = ROOT / "recipes"
SHARED_DATA = ROOT.parent / "shared" / "data"

TOP_KEYS = {"name": True, "title": True, "paper": True, "dataset": True, "settings": True,
            "not_reproduced": False}  # key -> required
DATASET_KEYS = {"name", "folder", "paper", "chosen"}
SETTING_KEYS = {"value", "paper", "chosen"}
# run mechanics and the data path are not a paper's setup: the data comes from `dataset.folder` or --data
NOT_RECIPE_SETTINGS = {"data", "output", "name", "recipe"}
# settings that belong to another setting: kept only while that one keeps the recipe's value
# (a recipe's builder arguments make no sense for a model the user swaps in with --model)
BOUND_TO = {"model_args": "model", "encoder_weights": "model", "loss_args": "loss"}
DICT_FLAGS = {"model_args": "model_arg", "loss_args": "loss_arg"}  # dict setting -> repeatable KEY=VALUE flag


class RecipeError(ValueError):
    """One problem in one recipe: `str()` is a one-line message naming the file and the key.

    `name` is the identifier at fault (an unknown model, loss or setting)."""

    def __init__(self, path, key: str, message: str, name: str | None = None):
        self.path, self.key, self.name = Path(path), key, name
        where = f"{display_path(self.path)}: {key}: " if key else f"{display_path(self.path)}: "
        super().__init__(where + message)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A parsed recipe file (see the module docstring for the format)."""

    name: str
    path: Path
    title: str
    paper: str
    dataset: dict
    settings: dict  # key -> {"value": ..., "paper": ..., "chosen": ...}
    not_reproduced: tuple = ()

    def values(self) -> dict:
        """Setting name -> value."""
        return {k: v["value"] for k, v in self.settings.items()}


def display_path(path: Path) -> str:
    """A path relative to the project when it is inside it (short error lines)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


MAX_RECIPE_BYTES = 1_000_000  # recipes are a few kB; a larger file is refused before it is parsed
MAX_RECIPE_DEPTH = 50  # nesting of mappings and lists (recipes use 3 or 4)


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses a repeated key (PyYAML would silently keep the last `lr:`), anchors and
    aliases (`&a` / `*a`: a few lines of them expand to billions of nodes, and recipes need none), and
    nesting deeper than `MAX_RECIPE_DEPTH`."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            kind = "alias *" if isinstance(event, yaml.AliasEvent) else "anchor &"
            raise yaml.composer.ComposerError(None, None, f"{kind}{event.anchor}: recipes may not use anchors or "
                                              "aliases (write the value out)", event.start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_RECIPE_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_RECIPE_DEPTH} levels deep",
                                                  event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _mapping_without_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            repeated = key in seen
        except TypeError:  # a list or mapping as a key: construct_mapping says so
            break
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


# --- finding and reading ---------------------------------------------------------------------

def list_recipes(folder: Path = RECIPES_DIR) -> list[str]:
    """Sorted recipe names (file stems) in `folder`."""
    return sorted(p.stem for p in Path(folder).glob("*.yaml"))


def recipe_path(name_or_path: str, folder: Path = RECIPES_DIR) -> Path:
    """The file of a recipe given by name (`paper002_microplastics`) or as a path to a .yaml file."""
    as_path = Path(name_or_path)
    if as_path.suffix in (".yaml", ".yml"):
        if not as_path.is_file():
            raise RecipeError(as_path, "", "recipe file not found")
        return as_path
    path = Path(folder) / f"{name_or_path}.yaml"
    if not path.is_file():
        known = list_recipes(folder)
        close = difflib.get_close_matches(name_or_path, known, n=1, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown recipe {name_or_path!r}.{hint} Known recipes: {', '.join(known)}")
    return path


def read_recipe(name_or_path: str, folder: Path = RECIPES_DIR) -> Recipe:
    """Parse a recipe and check its structure (not yet its values; see `recipe_problems`)."""
    path = recipe_path(name_or_path, folder)
    try:
        with open(path, "rb") as f:
            blob = f.read(MAX_RECIPE_BYTES + 1)
    except OSError as e:
        raise RecipeError(path, "", f"cannot read the file ({e.strerror or e})") from None
    if len(blob) > MAX_RECIPE_BYTES:
        raise RecipeError(path, "", f"file is larger than {MAX_RECIPE_BYTES} bytes (recipes are a few kB)")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as e:
        line = blob.count(b"\n", 0, e.start) + 1
        raise RecipeError(path, "", f"not UTF-8 text (line {line})") from None
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise RecipeError(path, "", f"not valid YAML{where}: {problem}") from None
    if not isinstance(doc, dict):
        raise RecipeError(path, "", "expected a mapping of name, title, paper, dataset, settings")
    for key, required in TOP_KEYS.items():
        if required and key not in doc:
            raise RecipeError(path, key, "missing")
    for key in doc:
        if key not in TOP_KEYS:
            raise RecipeError(path, str(key), f"unknown key (expected {', '.join(TOP_KEYS)})")
    if doc["name"] != path.stem:
        raise RecipeError(path, "name", f"{doc['name']!r} differs from the file name {path.stem!r}")
    dataset = doc["dataset"]
    if not isinstance(dataset, dict) or not {"name", "folder"} <= set(dataset) or not set(dataset) <= DATASET_KEYS:
        raise RecipeError(path, "dataset", f"expected name, folder (under ../shared/data, or null) and paper/chosen notes, "
                                           f"got {dataset!r}")
    if not (dataset["folder"] is None or (isinstance(dataset["folder"], str) and "/" not in dataset["folder"])):
        raise RecipeError(path, "dataset.folder", f"expected a folder name under ../shared/data or null, "
                                                  f"got {dataset['folder']!r}")
    settings = doc["settings"]
    if not isinstance(settings, dict) or not settings:
        raise RecipeError(path, "settings", "expected a mapping of train.py settings")
    for key, entry in settings.items():
        if not isinstance(entry, dict) or "value" not in entry or not set(entry) <= SETTING_KEYS:
            raise RecipeError(path, f"settings.{key}", f"expected value: plus paper: and/or chosen:, got {entry!r}")
        if not ({"paper", "chosen"} & set(entry)):
            raise RecipeError(path, f"settings.{key}", "say where the value comes from: paper: and/or chosen:")
    not_reproduced = doc.get("not_reproduced") or []
    if not isinstance(not_reproduced, list) or not all(isinstance(s, str) for s in not_reproduced):
        raise RecipeError(path, "not_reproduced", "expected a list of sentences")
    return Recipe(name=doc["name"], path=path, title=str(doc["title"]), paper=str(doc["paper"]),
                  dataset=dict(dataset), settings={str(k): dict(v) for k, v in settings.items()},
                  not_reproduced=tuple(not_reproduced))


# --- checking the values against train.py's flags and the live catalogues -----------------------

def recipe_problems(recipe: Recipe, parser) -> list[RecipeError]:
    """Every problem of a recipe's values: unknown settings, wrong types, names the model registry, the
    loss catalogue or the parser's choices do not know, builder arguments the model does not take, and
    numbers a run refuses (`RunConfig.check`: epochs < 1, fractions, folds), checked once names and types pass.

    `parser` is train.py's argparse parser (its flags, types and choices are the reference)."""
    import zoo
    from zoo.training.run import RunConfig as run_config_cls

    fields = {f.name: f for f in dataclasses.fields(run_config_cls)}
    actions = {a.dest: a for a in parser._actions}  # noqa: SLF001 - argparse keeps no public list
    problems = []

    def bad(key, message, name=None):
        problems.append(RecipeError(recipe.path, f"settings.{key}", message, name))

    values = recipe.values()
    for key, value in values.items():
        if key in NOT_RECIPE_SETTINGS:
            bad(key, "not a recipe setting (the data folder is dataset.folder or --data; run names are flags)", key)
            continue
        flag = DICT_FLAGS.get(key, key)
        if key not in fields or flag not in actions:
            close = difflib.get_close_matches(key, [f for f in fields if f not in NOT_RECIPE_SETTINGS], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            bad(key, f"unknown setting: train.py has no --{flag.replace('_', '-')} flag{hint}", key)
            continue
        if key == "model":
            if value not in zoo.list_models():
                bad(key, zoo.models.registry.unknown_model_message(str(value)), value)
        elif key == "image_size":
            size = [value] * 2 if isinstance(value, int) and not isinstance(value, bool) else value
            if not (isinstance(size, list) and len(size) == 2 and all(type(v) is int and v > 0 for v in size)):
                bad(key, f"expected N or [H, W] (positive integers), got {value!r}")
        elif key in DICT_FLAGS:
            problem = _dict_problem(value)
            if problem:
                bad(key, problem)
        else:
            problem = _flag_problem(actions[flag], fields[key], value)
            if problem:
                bad(key, problem, value if actions[flag].choices and isinstance(value, str) else None)
    model_args = values.get("model_args") or {}
    if isinstance(model_args, dict) and values.get("model") in zoo.list_models():
        params = zoo.get_model_entry(values["model"]).signature.parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            for k in model_args:
                if k not in params:
                    bad("model_args", f"{values['model']} takes no argument {k!r}")
    if "loss_args" in values and isinstance(values["loss_args"], dict) and "loss_args" in fields:
        from zoo.training.losses import LOSSES, get_loss

        if values.get("loss", run_config_cls.loss) in LOSSES:
            try:
                get_loss(values.get("loss", run_config_cls.loss), **values["loss_args"])
            except (TypeError, ValueError) as e:
                bad("loss_args", f"{' '.join(str(e).split())}")
    if not problems:
        values = {k: v for k, v in values.items() if k not in BOUND_TO and k != "image_size"}
        try:
            dataclasses.replace(run_config_cls(), **values).check()
        except ValueError as e:
            problems.append(RecipeError(recipe.path, "settings", str(e)))
    return problems


def _flag_problem(action, field, value) -> str | None:
    """Why `value` cannot be given to this flag, or None."""
    optional = field.default is None
    if value is None:
        return None if optional else "expected a value, got null"
    if action.const is True or action.const is False:  # store_true / store_false: a switch
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    kind = action.type or str
    if kind in (int, float, str):
        ok = type(value) is kind or (kind is float and type(value) is int)
        if not ok:
            return f"expected {dict([(int, 'an integer'), (float, 'a number'), (str, 'text')])[kind]}, got {value!r}"
    else:
        try:
            kind(value)
        except (TypeError, ValueError) as e:
            return f"{value!r}: {e}"
    if action.choices is not None and value not in action.choices:
        close = difflib.get_close_matches(str(value), [str(c) for c in action.choices], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown value {value!r}.{hint} Valid here: {', '.join(map(str, action.choices))}"
    return None


def _dict_problem(value) -> str | None:
    if not isinstance(value, dict):
        return f"expected a mapping of builder/loss arguments, got {value!r}"
    for k, v in value.items():
        if not str(k).isidentifier():
            return f"argument name {k!r} is not an identifier"
        try:
            if ast.literal_eval(repr(v)) != v:
                raise ValueError
        except (ValueError, SyntaxError):
            return f"{k}: {v!r} is not a plain number, text, list or true/false"
    return None


# --- using a recipe -----------------------------------------------------------------------------

def dataset_path(recipe: Recipe, shared_data: Path = SHARED_DATA) -> Path:
    """The folder of the recipe's dataset under `../shared/data`; raises RecipeError (pass --data) when
    the recipe names none on this machine or the folder is absent."""
    ds = recipe.dataset
    if ds["folder"] is None:
        raise RecipeError(recipe.path, "dataset", f"{ds['name']} is not on this machine; pass --data FOLDER "
                                                  "(a folder with images/ and masks/)")
    path = Path(shared_data) / ds["folder"]
    if not (path / "images").is_dir():
        raise RecipeError(recipe.path, "dataset.folder", f"{path} not found (expected {ds['name']} with images/ "
                                                         "and masks/); pass --data FOLDER")
    return path


def as_flag_defaults(recipe: Recipe) -> dict:
    """The recipe's values as argparse defaults (dest -> value), without the settings bound to the model or
    loss (see `bound_flags`); `image_size` as the "HxW" text the flag takes."""
    out = {}
    for key, value in recipe.values().items():
        if key in BOUND_TO:
            continue
        if key == "image_size":
            h, w = (value, value) if isinstance(value, int) else value
            value = f"{h}x{w}"
        out[key] = value
    return out


def bound_flags(recipe: Recipe, args) -> tuple[dict, list[str]]:
    """Argparse values for the settings bound to the model or loss, merged with the explicit flags in `args`:
    kept only when `args` keeps the recipe's model (loss); explicit KEY=VALUE items win per key.
    Returns (dest -> value, one note per recipe setting dropped because its model or loss was changed)."""
    values, out, dropped = recipe.values(), {}, []
    for key, owner in BOUND_TO.items():
        if key not in values:
            continue
        if getattr(args, owner) != values.get(owner):
            dropped.append(f"{key} (for {owner} {values.get(owner)}, not --{owner} {getattr(args, owner)})")
            continue
        flag = DICT_FLAGS.get(key, key)
        if key in DICT_FLAGS:
            out[flag] = [f"{k}={v!r}" for k, v in values[key].items()] + list(getattr(args, flag, None) or [])
        elif getattr(args, flag, None) is None:
            out[flag] = values[key]
    return out, dropped


def summary_line(recipe: Recipe) -> str:
    """A `--list-recipes` row: name, model, loss, dataset folder, title."""
    v = recipe.values()
    folder = recipe.dataset["folder"] or f"(--data: {recipe.dataset['name']})"
    return f"{recipe.name:24s}{str(v.get('model', '-')):28s}{str(v.get('loss', '-')):14s}{folder:26s}{recipe.title}"


# --- train.py's --recipe and --list-recipes ------------------------------------------------------

def load_recipe(name: str, parser) -> Recipe:
    """A recipe checked against train.py's `parser` and the live catalogues; raises its first RecipeError
    (one line naming the file and the key) or ValueError (unknown name)."""
    recipe = read_recipe(name)
    problems = recipe_problems(recipe, parser)
    if problems:
        raise problems[0]
    return recipe


def apply_recipe(parser, args, argv, warn=print):
    """Parse `argv` again with the recipe `args.recipe` as defaults, so that every flag given wins; settings
    bound to the model (model_args, encoder_weights) or loss (loss_args) apply only while those keep the
    recipe's. Returns (recipe, args); problems are `parser.error` lines."""
    try:
        recipe = load_recipe(args.recipe, parser)
    except ValueError as e:
        parser.error(f"--recipe: {e}")
    try:
        data, missing = str(dataset_path(recipe)), None
    except RecipeError as e:
        data, missing = None, str(e)
    parser.set_defaults(**as_flag_defaults(recipe), data=data)
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error(missing)
    bound, dropped = bound_flags(recipe, args)
    for dest, value in bound.items():
        setattr(args, dest, value)
    for note in dropped:
        warn(f"recipe {recipe.name}: not using its {note}")
    return recipe, args


def recipe_record(recipe: Recipe, cfg) -> dict:
    """What config.json keeps of a recipe: its name and file, its values (data resolved) and the settings
    the flags changed, with the values the run (`cfg`, a RunConfig) used."""
    import json

    values = recipe.values()
    if "image_size" in values:
        size = values["image_size"]
        values["image_size"] = [size, size] if isinstance(size, int) else list(size)
    try:
        values["data"] = str(dataset_path(recipe))
    except RecipeError:
        values["data"] = None
    used = json.loads(cfg.to_json())  # tuples as lists, as config.json has them
    overridden = {k: used.get(k) for k, v in values.items() if used.get(k) != v}
    return {"name": recipe.name, "file": display_path(recipe.path), "values": values, "overridden": overridden}


def list_recipes_table(parser) -> str:
    """One row per recipe; recipes this checkout cannot run say why."""
    rows = [f"{'recipe':24s}{'model':28s}{'loss':14s}{'dataset (../shared/data)':26s}paper"]
    for name in list_recipes():
        try:
            rows.append(summary_line(load_recipe(name, parser)))
        except ValueError as e:
            rows.append(f"{name:24s}not runnable here: {e}")
    return "\n".join(rows) + "\nrun one with: python train.py --recipe NAME [flags that override it]"
