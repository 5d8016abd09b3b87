"""``SqlRegistryStore``: the model registry in the tracking store's database.

It shares the tracking store's engine and its transactions (``_read`` and ``_retrying``, with
their error translation), so each method is one transaction and nothing is half-written;
every argument is checked before the first write.

Versions are numbered by a counter on the registered model (``last_version``): creating a
version increments it in the same statement that touches the model, so concurrent creations
on one model queue on that row and never share a number, and a deleted version's number is
not given again (MLflow keeps deleted versions' rows, so it never reuses one either).

A version's ``source`` is checked by ``mltrail.entities.model_source`` against the run and
logged model it names, looked up here first; where its files are is resolved once, at
creation, and kept (``storage_location``) for ``get_model_version_download_uri``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mltrail.entities import PagedList
from mltrail.entities.logged_model import validate_model_id
from mltrail.entities.model_source import check_source, references
from mltrail.entities.registry import (
    MAX_ALIAS_LENGTH,
    MAX_REGISTRY_TAG_KEY_LENGTH,
    MAX_RUN_LINK_LENGTH,
    SEARCH_MODEL_VERSIONS_DEFAULT,
    SEARCH_REGISTERED_MODELS_DEFAULT,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
    Stage,
    validate_alias,
    validate_description,
    validate_registered_model_name,
    validate_registry_tag,
    validate_version,
)
from mltrail.entities.validation import validate_run_id
from mltrail.errors import AlreadyExists, InvalidArgument, NotFound
from mltrail.storage.registry import RegistryStore, Version
from mltrail.storage.sql import logged_models
from mltrail.storage.sql import registry_search as reads
from mltrail.storage.sql import schema
from mltrail.storage.sql.registry_search import ALIAS, MV, MV_COLUMNS, MVT, RM, RMT

if TYPE_CHECKING:
    from mltrail.storage.sql.store import SqlTrackingStore

_MAX_USER_ID_LENGTH = 256
_LATEST = "latest"


def _now() -> int:
    return int(time.time() * 1000)


# Checks that need no database


def _checked_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if tags is not None and not isinstance(tags, Mapping):
        raise InvalidArgument(f"Invalid tags {tags!r}: expected a mapping of key to value")
    return dict(validate_registry_tag(k, v) for k, v in (tags or {}).items())


def _checked_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidArgument(f"Invalid tag key {key!r}: must be a non-empty string")
    if len(key) > MAX_REGISTRY_TAG_KEY_LENGTH:
        raise InvalidArgument(
            f"Tag key is {len(key)} characters; the limit is {MAX_REGISTRY_TAG_KEY_LENGTH}"
        )
    return key


def _optional_text(value: Any, field: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"Invalid {field} {value!r}: must be a string")
    if len(value) > limit:
        raise InvalidArgument(f"{field} is {len(value)} characters; the limit is {limit}")
    if "\x00" in value:
        raise InvalidArgument(f"{field} contains a NUL character")
    return value


def _alias_name(alias: Any) -> str:
    """An alias to look up or delete: any well-formed alias, reserved ones included."""
    if not isinstance(alias, str) or not alias or len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidArgument(
            f"Invalid alias {alias!r}: must be a non-empty string of at most "
            f"{MAX_ALIAS_LENGTH} characters"
        )
    return alias


# Statements


def _upsert(
    conn: Connection, table: sa.Table, values: dict[str, Any], keys: Sequence[str]
) -> None:
    """Insert the row, or update its other columns where one with these keys exists."""
    # The dialect's module, imported here: PostgreSQL's costs 45 ms at every start otherwise.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    statement = insert(table).values(**values)
    changed = {k: v for k, v in values.items() if k not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changed))


def _touch(conn: Connection, name: str, now: int) -> None:
    conn.execute(RM.update().where(RM.c.name == name).values(last_updated_timestamp=now))


class SqlRegistryStore(RegistryStore):
    def __init__(
        self,
        engine: Engine,
        tracking: SqlTrackingStore,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.engine = engine
        self._tracking = tracking
        # Milliseconds since the epoch; tests give their own clock to order timestamps.
        self.clock: Callable[[], int] = clock or _now

    # Registered models

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        user_id: str | None = None,
    ) -> RegisteredModel:
        name = validate_registered_model_name(name)
        checked_tags = _checked_tags(tags)
        description = validate_description(description)
        user = _optional_text(user_id, "user_id", _MAX_USER_ID_LENGTH)

        def work(conn: Connection) -> RegisteredModel:
            exists = conn.execute(sa.select(RM.c.name).where(RM.c.name == name)).first()
            if exists is not None:
                raise AlreadyExists(f"Registered Model (name={name}) already exists.")
            now = self.clock()
            try:
                with conn.begin_nested():
                    conn.execute(
                        RM.insert().values(
                            name=name,
                            creation_timestamp=now,
                            last_updated_timestamp=now,
                            description=description,
                            user_id=user,
                            last_version=0,
                        )
                    )
            except sa.exc.IntegrityError:
                raise AlreadyExists(f"Registered Model (name={name}) already exists.") from None
            if checked_tags:
                conn.execute(
                    RMT.insert(),
                    [{"name": name, "key": k, "value": v} for k, v in checked_tags.items()],
                )
            return reads.load_model(conn, name)

        return self._tracking._retrying(work)

    def get_registered_model(self, name: str) -> RegisteredModel:
        name = validate_registered_model_name(name)
        with self._tracking._read() as conn:
            return reads.load_model(conn, name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        name = validate_registered_model_name(name)
        new_name = validate_registered_model_name(new_name, "new_name")

        def work(conn: Connection) -> RegisteredModel:
            reads.require_model(conn, name)
            now = self.clock()
            if new_name != name:
                taken = conn.execute(sa.select(RM.c.name).where(RM.c.name == new_name)).first()
                if taken is not None:
                    raise AlreadyExists(f"Registered Model (name={new_name}) already exists.")
                try:
                    with conn.begin_nested():
                        conn.execute(RM.update().where(RM.c.name == name).values(name=new_name))
                except sa.exc.IntegrityError:
                    raise AlreadyExists(
                        f"Registered Model (name={new_name}) already exists."
                    ) from None
                # PostgreSQL's foreign keys have moved the child rows already; SQLite's are
                # not enforced, so move them here (a no-op where they have moved).
                for table in (RMT, MV, MVT, ALIAS):
                    conn.execute(table.update().where(table.c.name == name).values(name=new_name))
            conn.execute(
                MV.update().where(MV.c.name == new_name).values(last_updated_timestamp=now)
            )
            _touch(conn, new_name, now)
            return reads.load_model(conn, new_name)

        return self._tracking._retrying(work)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        name = validate_registered_model_name(name)
        description = validate_description(description)

        def work(conn: Connection) -> RegisteredModel:
            result = conn.execute(
                RM.update()
                .where(RM.c.name == name)
                .values(description=description, last_updated_timestamp=self.clock())
            )
            if result.rowcount == 0:
                raise reads.model_not_found(name)
            return reads.load_model(conn, name)

        return self._tracking._retrying(work)

    def delete_registered_model(self, name: str) -> None:
        name = validate_registered_model_name(name)

        def work(conn: Connection) -> None:
            reads.require_model(conn, name)
            for table in (ALIAS, MVT, MV, RMT, RM):
                conn.execute(table.delete().where(table.c.name == name))

        self._tracking._retrying(work)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_REGISTERED_MODELS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        with self._tracking._read() as conn:
            return reads.search_models(conn, filter_string, max_results, order_by, page_token)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        name = validate_registered_model_name(name)
        if isinstance(stages, str):
            stages = [stages]
        wanted = {Stage.coerce(s) for s in stages} if stages else set(Stage)
        with self._tracking._read() as conn:
            reads.require_model(conn, name)
            return [v for v in reads.latest_versions(conn, name) if v.current_stage in wanted]

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        name = validate_registered_model_name(name)
        key, text = validate_registry_tag(key, value)

        def work(conn: Connection) -> None:
            reads.require_model(conn, name)
            _upsert(conn, RMT, {"name": name, "key": key, "value": text}, ("name", "key"))

        self._tracking._retrying(work)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        # As MLflow: the model must exist; deleting a tag it does not have changes nothing.
        name = validate_registered_model_name(name)
        key = _checked_key(key)

        def work(conn: Connection) -> None:
            reads.require_model(conn, name)
            conn.execute(RMT.delete().where(RMT.c.name == name, RMT.c.key == key))

        self._tracking._retrying(work)

    # Aliases

    def set_registered_model_alias(self, name: str, alias: str, version: Version) -> None:
        name = validate_registered_model_name(name)
        alias = validate_alias(alias)
        number = validate_version(version)

        def work(conn: Connection) -> None:
            reads.require_version(conn, name, number)
            _upsert(
                conn, ALIAS, {"name": name, "alias": alias, "version": number}, ("name", "alias")
            )

        self._tracking._retrying(work)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        # As MLflow: the model must exist; deleting an alias it does not have changes nothing.
        name = validate_registered_model_name(name)
        alias = _alias_name(alias)

        def work(conn: Connection) -> None:
            reads.require_model(conn, name)
            conn.execute(ALIAS.delete().where(ALIAS.c.name == name, ALIAS.c.alias == alias))

        self._tracking._retrying(work)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        name = validate_registered_model_name(name)
        alias = _alias_name(alias)
        with self._tracking._read() as conn:
            if alias.lower() == _LATEST:
                # As MLflow: @latest is the newest version.
                query = sa.select(*MV_COLUMNS).where(MV.c.name == name)
                row = conn.execute(query.order_by(MV.c.version.desc()).limit(1)).first()
                if row is None:
                    reads.require_model(conn, name)
                    raise NotFound(f"Registered model '{name}' has no versions")
                return reads.versions_from_rows(conn, [row])[0]
            target = sa.and_(MV.c.name == ALIAS.c.name, MV.c.version == ALIAS.c.version)
            row = conn.execute(
                sa.select(*MV_COLUMNS)
                .select_from(ALIAS.join(MV, target))
                .where(ALIAS.c.name == name, ALIAS.c.alias == alias)
            ).first()
            if row is None:
                reads.require_model(conn, name)
                raise NotFound(f"Registered model alias '{alias}' not found for model '{name}'")
            return reads.versions_from_rows(conn, [row])[0]

    # Model versions

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        name = validate_registered_model_name(name)
        refs = references(source)
        checked_tags = _checked_tags(tags)
        description = validate_description(description)
        link = _optional_text(run_link, "run_link", MAX_RUN_LINK_LENGTH)
        user = _optional_text(user_id, "user_id", _MAX_USER_ID_LENGTH)
        given_run = validate_run_id(run_id) if run_id else None
        given_model = validate_model_id(model_id) if model_id else None

        def work(conn: Connection) -> ModelVersion:
            reads.require_model(conn, name)
            run = given_run
            model = given_model or refs.model_id
            model_location = None
            if model is not None:
                logged = logged_models.get(conn, model)
                model_location = logged.artifact_location
                run = run or logged.source_run_id
            run = run or refs.run_id
            run_location = None
            if run is not None:
                run_location = conn.execute(
                    sa.select(schema.runs.c.artifact_uri).where(schema.runs.c.run_uuid == run)
                ).scalar()
                if run_location is None:
                    raise NotFound(f"Run with id={run} not found")
            registered_location = None
            if refs.registered is not None:
                other, number = refs.registered
                registered_location = reads.require_version(conn, other, number).storage_location
            location = check_source(
                source,
                run_id=run,
                run_artifact_uri=run_location,
                model_id=model,
                model_artifact_uri=model_location,
                store_artifact_root=self._tracking.artifact_root,
                registered_uri=registered_location,
            )
            now = self.clock()
            version = conn.execute(
                RM.update()
                .where(RM.c.name == name)
                .values(last_version=RM.c.last_version + 1, last_updated_timestamp=now)
                .returning(RM.c.last_version)
            ).scalar_one()
            conn.execute(
                MV.insert().values(
                    name=name,
                    version=version,
                    creation_timestamp=now,
                    last_updated_timestamp=now,
                    user_id=user,
                    current_stage=Stage.NONE.value,
                    description=description,
                    source=source,
                    storage_location=location,
                    run_id=run,
                    run_link=link,
                    status=ModelVersionStatus.READY.value,
                    status_message=None,
                    model_id=model,
                )
            )
            if checked_tags:
                conn.execute(
                    MVT.insert(),
                    [
                        {"name": name, "version": version, "key": k, "value": v}
                        for k, v in checked_tags.items()
                    ],
                )
            return reads.load_version(conn, name, version)

        return self._tracking._retrying(work)

    def get_model_version(self, name: str, version: Version) -> ModelVersion:
        name = validate_registered_model_name(name)
        number = validate_version(version)
        with self._tracking._read() as conn:
            return reads.load_version(conn, name, number)

    def update_model_version(
        self, name: str, version: Version, description: str | None
    ) -> ModelVersion:
        name = validate_registered_model_name(name)
        number = validate_version(version)
        description = validate_description(description)

        def work(conn: Connection) -> ModelVersion:
            reads.require_version(conn, name, number)
            conn.execute(
                MV.update()
                .where(MV.c.name == name, MV.c.version == number)
                .values(description=description, last_updated_timestamp=self.clock())
            )
            return reads.load_version(conn, name, number)

        return self._tracking._retrying(work)

    def transition_model_version_stage(
        self,
        name: str,
        version: Version,
        stage: Stage | str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        name = validate_registered_model_name(name)
        number = validate_version(version)
        target = Stage.coerce(stage)
        if archive_existing_versions and target not in (Stage.STAGING, Stage.PRODUCTION):
            raise InvalidArgument(
                f"Model version transition cannot archive existing model versions because "
                f"'{target.value}' is not an active stage; archive_existing_versions is only "
                f"allowed with stage Staging or Production"
            )

        def work(conn: Connection) -> ModelVersion:
            reads.require_version(conn, name, number)
            now = self.clock()
            if archive_existing_versions:
                conn.execute(
                    MV.update()
                    .where(
                        MV.c.name == name,
                        MV.c.version != number,
                        MV.c.current_stage == target.value,
                    )
                    .values(current_stage=Stage.ARCHIVED.value, last_updated_timestamp=now)
                )
            conn.execute(
                MV.update()
                .where(MV.c.name == name, MV.c.version == number)
                .values(current_stage=target.value, last_updated_timestamp=now)
            )
            _touch(conn, name, now)
            return reads.load_version(conn, name, number)

        return self._tracking._retrying(work)

    def delete_model_version(self, name: str, version: Version) -> None:
        name = validate_registered_model_name(name)
        number = validate_version(version)

        def work(conn: Connection) -> None:
            reads.require_version(conn, name, number)
            for table in (ALIAS, MVT, MV):
                conn.execute(
                    table.delete().where(table.c.name == name, table.c.version == number)
                )
            _touch(conn, name, self.clock())

        self._tracking._retrying(work)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        with self._tracking._read() as conn:
            return reads.search_versions(conn, filter_string, max_results, order_by, page_token)

    def get_model_version_download_uri(self, name: str, version: Version) -> str:
        name = validate_registered_model_name(name)
        number = validate_version(version)
        with self._tracking._read() as conn:
            location = conn.execute(
                sa.select(MV.c.storage_location).where(MV.c.name == name, MV.c.version == number)
            ).scalar()
            if location is None:
                reads.require_model(conn, name)
                raise reads.version_not_found(name, number)
            return str(location)

    def set_model_version_tag(self, name: str, version: Version, key: str, value: str) -> None:
        name = validate_registered_model_name(name)
        number = validate_version(version)
        key, text = validate_registry_tag(key, value)

        def work(conn: Connection) -> None:
            reads.require_version(conn, name, number)
            _upsert(
                conn,
                MVT,
                {"name": name, "version": number, "key": key, "value": text},
                ("name", "version", "key"),
            )

        self._tracking._retrying(work)

    def delete_model_version_tag(self, name: str, version: Version, key: str) -> None:
        # As MLflow: the version must exist; deleting a tag it does not have changes nothing.
        name = validate_registered_model_name(name)
        number = validate_version(version)
        key = _checked_key(key)

        def work(conn: Connection) -> None:
            reads.require_version(conn, name, number)
            conn.execute(
                MVT.delete().where(MVT.c.name == name, MVT.c.version == number, MVT.c.key == key)
            )

        self._tracking._retrying(work)
