"""The lab store's statements, built once on the Core tables with bound parameters.

A statement and its cache key built at every call cost SQLAlchemy 150 to 400 µs
a query; a prepared one costs about 40 µs, and a POP3 or SMTP session makes
four to seven (each login, delivery and download).
"""

from __future__ import annotations

from sqlalchemy import Table, bindparam, func, insert, select, update

from pixlab.db import Account, DriverStatement, Folder, Message

MESSAGE_COLUMNS = (
    Message.id,
    Message.folder_id,
    Message.uid,
    Message.flags,
    Message.internal_date,
    Message.size,
)

ACCOUNTS: Table = Account.__table__  # type: ignore[assignment]
FOLDERS: Table = Folder.__table__  # type: ignore[assignment]
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_A, _F, _M = ACCOUNTS.c, FOLDERS.c, MESSAGES.c
ACCOUNT_BY_ADDRESS = select(_A.id, _A.address, _A.quota_bytes).where(
    _A.address == bindparam("b_address")
)
ACCOUNT_BY_ID = select(_A.id, _A.address, _A.quota_bytes).where(_A.id == bindparam("b_id"))
ACCOUNT_WITH_HASH = select(_A.id, _A.address, _A.quota_bytes, _A.password_hash, _A.two_step).where(
    _A.address == bindparam("b_address")
)
USAGE = select(func.coalesce(func.sum(_M.size), 0)).where(
    _M.account_id == bindparam("b_account")
)
FOLDER_BY_NAME = select(FOLDERS).where(
    _F.account_id == bindparam("b_account"), _F.name == bindparam("b_name")
)
FOLDER_BY_ID = select(FOLDERS).where(_F.id == bindparam("b_id"))
FOLDERS_OF_ACCOUNT = select(FOLDERS).where(_F.account_id == bindparam("b_account"))
MESSAGES_OF_FOLDER = (
    select(_M.id, _M.folder_id, _M.uid, _M.flags, _M.internal_date, _M.size)
    .where(_M.folder_id == bindparam("b_folder"))
    .order_by(_M.uid)
)
RAW = select(_M.raw).where(_M.id == bindparam("b_id"))
RAWS = select(_M.id, _M.raw).where(_M.id.in_(bindparam("b_ids", expanding=True)))
NEXT_UID = (
    update(FOLDERS)
    .where(_F.account_id == bindparam("b_account"), _F.name == bindparam("b_name"))
    .values(uidnext=_F.uidnext + 1)
    .returning(_F.id, _F.uidnext)
)
INSERT_MESSAGE = insert(MESSAGES).returning(_M.id)
# PostgreSQL: an account's row, locked until the transaction ends (quota checks).
LOCK_ACCOUNT = select(_A.id).where(_A.id == bindparam("b_id")).with_for_update()


READ_ACCOUNT_BY_ADDRESS = DriverStatement(ACCOUNT_BY_ADDRESS)
READ_ACCOUNT_BY_ID = DriverStatement(ACCOUNT_BY_ID)
READ_ACCOUNT_WITH_HASH = DriverStatement(ACCOUNT_WITH_HASH)
READ_USAGE = DriverStatement(USAGE)
READ_FOLDER_BY_NAME = DriverStatement(FOLDER_BY_NAME)
READ_FOLDER_BY_ID = DriverStatement(FOLDER_BY_ID)
READ_FOLDERS_OF_ACCOUNT = DriverStatement(FOLDERS_OF_ACCOUNT)
READ_MESSAGES_OF_FOLDER = DriverStatement(MESSAGES_OF_FOLDER)
READ_RAW = DriverStatement(RAW)
RUN_NEXT_UID = DriverStatement(NEXT_UID)
RUN_LOCK_ACCOUNT = DriverStatement(LOCK_ACCOUNT)
RUN_INSERT_MESSAGE = DriverStatement(
    INSERT_MESSAGE,
    ["folder_id", "account_id", "uid", "flags", "internal_date", "size", "raw"],
)
