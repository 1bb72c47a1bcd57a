"""Models page: choose the model every page uses; upload, download or delete checkpoints."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

import vae
from pages.common import caches, honest, import_form, model_access, model_upload, shell
from pages.common.errors import friendly_errors, save_failed_words
from pages.common.text import plain

shell.open_in_app()  # run on its own by Streamlit's pages-folder mode: run the whole app

TABLE_KEY = "models_table"
CHOICE_KEY = "models_choice"  # the model the buttons below the table act on
CHOICE_FOR_KEY = "models_choice_for"  # the model in use when the choice was last set; when another is, it follows
USE_KEY = "models_use"
DOWNLOAD_KEY = "models_download"
CONFIRM_KEY = "models_delete_confirm"
DELETE_KEY = "models_delete"
UPLOAD_KEY = "models_upload"
UPLOAD_NAME_KEY = "models_upload_name"
REPLACE_KEY = "models_upload_replace"
ADD_KEY = "models_add"
UPLOADED_FILE_KEY = "models_uploaded_file"  # id of the upload the name field was filled for
NOTICE_KEY = "models_notice"  # ("success" | "error", text) shown once after a callback
BAD_TABLE_KEY = "models_unreadable_table"
BAD_CHOICE_KEY = "models_unreadable_choice"  # the file that cannot be opened the delete buttons act on
BAD_CONFIRM_KEY = "models_unreadable_confirm"
BAD_DELETE_KEY = "models_unreadable_delete"
NOT_MEASURED = "not measured"  # Test ELBO of a model that carries none (an import)


def show_page() -> None:
    """The table of models, actions on one of them, and the upload form."""
    st.title("Models")
    show_notice()
    infos = model_access.list_models()
    active = model_access.active_model_name()
    if infos:
        show_table(infos, active)
        show_actions([info.name for info in infos], active)
        show_likelihood_note(infos, st.session_state.get(CHOICE_KEY))
    else:
        st.info("There are no models yet. Train one on the **Train** page, or upload one below.")
    show_unreadable(model_access.list_unreadable_models())
    st.divider()
    show_upload()


def show_notice() -> None:
    """The message a button's callback left behind (callbacks run before the page is drawn)."""
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, text = notice
        (st.success if kind == "success" else st.error)(text)  # the callbacks passed every name through plain()


def show_table(infos: list[vae.CheckpointInfo], active: str | None) -> None:
    """Name, dataset, latent size, test ELBO and date of every checkpoint."""
    rows = [{
        "In use": "✓" if info.name == active else "",
        "Name": info.name,
        "Dataset": info.dataset,
        "Latent size": info.latent_dim,
        "Kind": {"mlp": "fully connected", "conv": "convolutional"}.get(info.kind, info.kind),
        "Test ELBO": format_elbo(info.test_elbo),
        "Date": info.created[:16].replace("T", " ") if info.created else "",
        "Size (MB)": round(info.size_bytes / 1e6, 2),
    } for info in infos]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=TABLE_KEY, column_config={
        "Test ELBO": st.column_config.TextColumn(help="How well the model explains unseen test images, in nats per "
                                                 "image. Higher (closer to 0) is better. Imported models carry none: "
                                                 "the Reconstructions page measures it. " + honest.FLOOR_HELP),
    })


def show_likelihood_note(infos: list[vae.CheckpointInfo], choice: str | None) -> None:
    """What the chosen model's test ELBO contains: for a Bernoulli model, its grey images' floor and how far above."""
    info = next((info for info in infos if info.name == choice), None)
    if info is None or info.test_elbo is None:
        return
    floor = None
    if info.likelihood == "bernoulli":
        try:
            floor = honest.dataset_floor(info.dataset)
        except vae.VAEError:  # its images are not here: the sentence says so without a figure
            floor = None
    st.caption(f"{plain(info.name)}, test ELBO {info.test_elbo:.1f}: "
               f"{honest.likelihood_words(info.likelihood, info.test_elbo, floor)}")


def format_elbo(test_elbo: float | None) -> str:
    """The Test ELBO as the table shows it: one decimal, or "not measured"."""
    return NOT_MEASURED if test_elbo is None else f"{test_elbo:.1f}"


def show_actions(names: list[str], active: str | None) -> None:
    """Pick a model, then use, download or delete it."""
    follow_active_model(names, active)
    choice = st.selectbox("Model", names, key=CHOICE_KEY, on_change=forget_confirmation, args=(CONFIRM_KEY,))
    columns = st.columns(3, vertical_alignment="bottom")
    columns[0].button("Use this model", key=USE_KEY, type="primary", on_click=use_model, args=(choice,),
                      disabled=choice == active, help="Every page then shows this model.")
    path = vae.checkpoint_path(model_access.checkpoint_dir(), choice)
    columns[1].download_button("Download", data=read_bytes(path), file_name=path.name,
                               mime="application/octet-stream", key=DOWNLOAD_KEY)
    with columns[2]:
        confirmed = st.checkbox(f"Yes, delete {plain(choice)}", key=CONFIRM_KEY)
        st.button("Delete", key=DELETE_KEY, disabled=not confirmed, on_click=delete_model, args=(choice, CONFIRM_KEY),
                  help="Tick the box first. A deleted model cannot be brought back.")


def follow_active_model(names: list[str], active: str | None) -> None:
    """Point the choice at the model in use whenever another one became so, or the chosen one is gone.

    The choice used to be reset only when its model disappeared: after the sidebar, an upload or
    another tab made a new model active, the page still offered to delete the previous one.
    """
    if st.session_state.get(CHOICE_FOR_KEY) != active or st.session_state.get(CHOICE_KEY) not in names:
        st.session_state[CHOICE_KEY] = active if active in names else names[0]
        st.session_state[CHOICE_FOR_KEY] = active
        st.session_state[CONFIRM_KEY] = False


def forget_confirmation(confirm_key: str) -> None:
    """Untick a delete box when the choice changes: a tick was given for the model chosen before."""
    st.session_state[confirm_key] = False


def show_unreadable(bad: list[vae.CheckpointInfo]) -> None:
    """Files in the folder that cannot be opened, with the reason, and a way to delete them."""
    if not bad:
        return
    st.subheader("Files that cannot be opened")
    st.caption("These files are in the models folder, but no page can use them. Delete them, or replace them with "
               "a good copy (upload it below with the same name and tick Replace).")
    st.dataframe(pd.DataFrame([{"File": f"{info.name}.pt", "Why it cannot be opened": info.problem,
                                "Size (MB)": round(info.size_bytes / 1e6, 2)} for info in bad]),
                 hide_index=True, key=BAD_TABLE_KEY)
    names = [info.name for info in bad]
    if st.session_state.get(BAD_CHOICE_KEY) not in names:
        st.session_state[BAD_CHOICE_KEY] = names[0]
    columns = st.columns(3, vertical_alignment="bottom")
    choice = columns[0].selectbox("File", names, key=BAD_CHOICE_KEY, format_func=lambda name: f"{name}.pt",
                                  on_change=forget_confirmation, args=(BAD_CONFIRM_KEY,))
    confirmed = columns[1].checkbox("Yes, delete this file", key=BAD_CONFIRM_KEY)
    columns[2].button("Delete file", key=BAD_DELETE_KEY, disabled=not confirmed, on_click=delete_model,
                      args=(choice, BAD_CONFIRM_KEY), help="Tick the box first. A deleted file cannot be brought back.")


def read_bytes(path: Path) -> bytes:
    """The file's bytes, or empty bytes if it vanished in the meantime."""
    try:
        return path.read_bytes()
    except OSError:
        return b""


def use_model(name: str) -> None:
    """Make ``name`` the active model."""
    model_access.set_active_model(name)
    st.session_state[NOTICE_KEY] = ("success", f"Every page now uses **{plain(name)}**.")


def delete_model(name: str, confirm_key: str) -> None:
    """Delete ``name`` (its box was ticked), forget caches, and pick another active model if needed."""
    try:
        vae.delete_checkpoint(model_access.checkpoint_dir(), name)
    except vae.VAEError as error:
        st.session_state[NOTICE_KEY] = ("error", plain(f"Could not delete {name}: {error}"))
        return
    except OSError as error:
        st.session_state[NOTICE_KEY] = ("error", plain(f"Could not delete {name}: "
                                                                f"{error.strerror or 'the file is locked'}."))
        return
    caches.clear_model_caches()
    st.session_state[confirm_key] = False
    if st.session_state.get(model_access.MODEL_KEY) == name:
        del st.session_state[model_access.MODEL_KEY]
        st.query_params.pop("model", None)
    st.session_state[NOTICE_KEY] = ("success", f"Deleted **{plain(name)}**.")


def show_upload() -> None:
    """Upload a checkpoint: ours as it is; another program's model through the import form."""
    st.subheader("Add a model from a file")
    st.caption("A `.pt` file saved by this app, or a VAE from another program: PyTorch weights (`state_dict`, "
               "`.pt`/`.pth`) or a Keras file (`.keras`, `.weights.h5`, `.h5`). The file is checked before it is "
               "saved.")
    upload = st.file_uploader("Model file", type=["pt", "pth", "keras", "h5"], key=UPLOAD_KEY)
    if upload is None:
        return
    default_name = Path(upload.name).stem[:64]
    if st.session_state.get(UPLOADED_FILE_KEY) != upload.file_id:  # a new file: suggest its own name
        st.session_state[UPLOADED_FILE_KEY] = upload.file_id
        st.session_state[UPLOAD_NAME_KEY] = default_name
    name = st.text_input("Save it as", key=UPLOAD_NAME_KEY, max_chars=64,
                         help="Letters, digits, - and _ only; other characters become -.")
    replace = st.checkbox("Replace the existing model with this name", key=REPLACE_KEY)
    if import_form.show_import_form(upload, name or default_name, replace, on_imported=made_active):
        return  # another program's model: the import form asks what the file cannot say
    if st.button("Add model", key=ADD_KEY, type="primary"):
        add_model(upload.getvalue(), name or default_name, replace)


def add_model(data: bytes, name: str, replace: bool) -> None:
    """Validate and save the upload, then make it the active model; problems show as messages."""
    try:
        with st.spinner("Checking the file…"):
            saved = model_upload.import_checkpoint(data, name, replace=replace)
    except vae.VAEError as error:
        st.error(plain(error))
        return
    except OSError as error:  # the message names no server path
        st.error(save_failed_words(error))
        return
    made_active(saved, f"Added **{plain(saved)}** and made it the model in use.")


def made_active(saved: str, notice: str) -> None:
    """Make a model just added the one in use, and say so once (``notice`` is Markdown with names made plain)."""
    model_access.set_active_model(saved)
    st.session_state[NOTICE_KEY] = ("success", notice)
    st.rerun()  # so the sidebar and the table show the new model


with friendly_errors():
    show_page()
