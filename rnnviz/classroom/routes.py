"""The phones' side of a room: Starlette routes that app.py mounts beside the Streamlit page.

GET /join (a box for the code), GET /join/{code} (the phone's page), POST /join/{code}/hello (the
phone joins) and POST /join/{code}/say (a sentence, read by the room's model). A join link can only
send: nothing here lists a room's sentences or changes the room.
"""

from __future__ import annotations

import ipaddress
import json

import torch
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from rnnviz.classroom.phone import notice_page, phone_page
from rnnviz.classroom.reading import read_sentence, room_model
from rnnviz.classroom.rules import (
    LookupLimiter,
    Refused,
    cut_text,
    normal_code,
    shown_code,
    valid_phone_token,
)
from rnnviz.classroom.store import ClassStore, class_store
from rnnviz.errors import RnnvizError

MAX_BODY_BYTES = 64 * 1024  # a sentence of 2,000 characters is at most 8 kB of UTF-8 in JSON
NO_ROOM = "No room has this code. Check it on the lecturer's screen (rooms end 12 hours after their last use)."


def client_address(request: Request) -> str:
    """Who asks, for the wrong-code limit: the peer, or behind a local proxy (deploy/nginx) the
    address that proxy saw (the last X-Forwarded-For entry, the one it wrote itself)."""
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for", "")
    try:
        behind_proxy = (
            ipaddress.ip_address(peer).is_private or ipaddress.ip_address(peer).is_loopback
        )
    except ValueError:
        behind_proxy = False
    if forwarded and behind_proxy:
        return forwarded.split(",")[-1].strip()
    return peer


class PhoneRoutes:
    """The handlers, with the store they use and the wrong-code limiter of this process."""

    def __init__(self, store: ClassStore | None = None):
        self._store = store
        self._limiter: LookupLimiter | None = None

    @property
    def store(self) -> ClassStore:
        return self._store or class_store()

    @property
    def limiter(self) -> LookupLimiter:
        if self._limiter is None:
            self._limiter = LookupLimiter(self.store.rules.failed_lookups_per_minute)
        return self._limiter

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/join", self.join_form, methods=["GET"]),
            Route("/join/{code}", self.page, methods=["GET"]),
            Route("/join/{code}/hello", self.hello, methods=["POST"]),
            Route("/join/{code}/say", self.say, methods=["POST"]),
            # Anything else under a join link (a list, a control) does not exist, whatever the method.
            Route("/join/{code}/{rest:path}", self.nothing_else, methods=["GET", "POST"]),
        ]

    def _room_code(self, request: Request) -> str:
        """The path's room code, if the room exists; wrong codes count against the asker."""
        address = client_address(request)
        self.limiter.check(address)
        code = normal_code(request.path_params["code"])
        if code is None or self.store.phone_room(code) is None:
            self.limiter.failed(address)
            raise Refused(NO_ROOM, 404)
        return code

    async def join_form(self, request: Request) -> Response:
        typed = request.query_params.get("code", "")
        code = normal_code(typed)
        if code:
            return RedirectResponse(f"/join/{code}", status_code=303)
        message = (
            "A room code has 8 letters and digits."
            if typed
            else "Type the code on the lecturer's screen."
        )
        return HTMLResponse(notice_page("Join a room", message), status_code=400 if typed else 200)

    async def page(self, request: Request) -> Response:
        try:
            code = await run_in_threadpool(self._room_code, request)
        except Refused as refusal:
            return HTMLResponse(
                notice_page("No such room", str(refusal)), status_code=refusal.status
            )
        return HTMLResponse(phone_page(code, shown_code(code), f"/join/{code}"))

    async def nothing_else(self, request: Request) -> Response:
        return JSONResponse({"error": "A join link can only send sentences."}, status_code=404)

    async def hello(self, request: Request) -> Response:
        return await self._answer(request, self._hello)

    async def say(self, request: Request) -> Response:
        return await self._answer(request, self._say)

    async def _answer(self, request: Request, handle) -> Response:
        """Read a small JSON body, run `handle` off the event loop; a refusal is a JSON `error`."""
        try:
            body = await _small_json(request)
            phone = body.get("phone")
            if not valid_phone_token(phone):
                raise Refused("This page lost its token; reload it.", 400)
            return JSONResponse(await run_in_threadpool(handle, request, phone, body))
        except Refused as refusal:
            return JSONResponse({"error": str(refusal)}, status_code=refusal.status)
        except RnnvizError as error:
            return JSONResponse(
                {"error": f"The model could not read this: {error}"}, status_code=400
            )

    def _hello(self, request: Request, phone: str, body: dict) -> dict:
        code = self._room_code(request)
        room = self.store.join(code, phone)
        model = room_model(room.model)
        config = getattr(model, "config", None)
        labels = (
            list(config.labels or ()) if config is not None and config.task == "classifier" else []
        )
        return {"model": model.name, "labels": labels}

    def _say(self, request: Request, phone: str, body: dict) -> dict:
        code = self._room_code(request)
        text = body.get("text")
        if not isinstance(text, str):
            raise Refused("Type a sentence first.", 400)
        text, truncated = cut_text(text, self.store.rules)
        room = self.store.check_sentence(code, phone)  # refuse before the model runs
        reading = read_sentence(room.model, text)
        sentence_id = self.store.add_sentence(code, phone, text, truncated, reading)
        answer = {"id": sentence_id, "text": text, "reading": reading.as_json()}
        if truncated:
            answer["notice"] = (
                f"Your sentence was cut to its first {self.store.rules.max_characters} characters."
            )
        return answer


async def _small_json(request: Request) -> dict:
    """The request's JSON object, refusing bodies over MAX_BODY_BYTES without reading them whole."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        raise Refused("That is too long to send.", 413)
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_BODY_BYTES:
            raise Refused("That is too long to send.", 413)
    try:
        body = json.loads(received or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("The page sent something unreadable; reload it.", 400) from None
    if not isinstance(body, dict):
        raise Refused("The page sent something unreadable; reload it.", 400)
    return body


def classroom_routes() -> list[BaseRoute]:
    """What app.py mounts beside the page."""
    # One intra-op thread, as the page sets: requests are small and run in parallel threads.
    torch.set_num_threads(1)
    return PhoneRoutes().routes()
