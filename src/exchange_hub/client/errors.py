"""The client's one exception tree; each error carries the hub's problem document.

    HubClientError                 anything the client could not get done
    ├── InvalidRequestError        the call's own arguments fail the hub's schema (not sent)
    ├── HubUnreachable             no answer within the deadline (connection refused, timeouts)
    ├── UnexpectedAnswer           a success that is not the contract's answer (a proxy's page)
    └── HubRefused                 the hub answered with a problem document (RFC 9457)
        ├── BadRequestError        400
        │   └── InvalidInputError  422  ``field`` names the part at fault
        ├── AuthenticationError    401  key unknown or revoked, signature refused
        ├── ForbiddenError         403
        ├── NotFoundError          404
        ├── ConflictError          409
        ├── PayloadTooLargeError   413
        ├── UnsupportedMediaError  415
        ├── RateLimitedError       429  still limited when the deadline came
        └── UnavailableError       503  (and other 5xx) still down when the deadline came

``str(error)`` is one line for a clerk: Chinese first, then the hub's own English
words and the field at fault, e.g. ``身份验证未通过：请求签名与登记的公钥不符…
(401 Authentication required: signature does not verify; field X-Hub-Signature)``.
"""

from __future__ import annotations

from typing import Any

import httpx

from exchange_hub.errors import Problem

TITLES_ZH = {
    400: "请求格式有误",
    401: "身份验证未通过",
    403: "超出本单位的权限范围",
    404: "没有找到（或无权查看）",
    409: "与当前状态冲突",
    413: "文件太大",
    415: "文件或数据格式不被接受",
    422: "数据有误",
    429: "请求过于频繁，平台要求稍后再试",
    503: "平台暂时不可用",
}
# What a clerk can do about the refusals that have one cause a clerk can fix.
HINTS_ZH = {
    "signature does not verify": "请求签名与平台登记的公钥不符，请检查配置的签名私钥文件",
    "this member must sign requests": "本单位已登记公钥，必须签名：请在配置中填写签名私钥文件",
    "unknown or revoked API key": "接入密钥无效或已停用，请向平台管理员申请新的密钥",
    "signature timestamp outside the window": "本机时间与平台相差过大，请校准本机时钟",
    "signature replayed": "同一请求被重复发送，请稍后重试",
}


class HubClientError(Exception):
    """Base of every error the client raises."""

    status: int | None = None

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(f"{message_zh} ({message_en})")
        self.message_zh, self.message_en = message_zh, message_en


class InvalidRequestError(HubClientError):
    """The arguments do not fit the hub's own request schema; nothing was sent."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"数据有误：{field}", f"invalid {field}: {detail}")
        self.field, self.detail = field, detail


class HubUnreachable(HubClientError):
    """No answer from the hub before the deadline: it is down or the network is."""

    def __init__(self, url: str, cause: str, attempts: int) -> None:
        super().__init__(
            f"无法连接交换平台 {url}（已尝试 {attempts} 次），请检查网络或稍后再试",
            f"hub unreachable after {attempts} attempts: {cause}",
        )
        self.url, self.cause, self.attempts = url, cause, attempts


class UnexpectedAnswer(HubClientError):
    """A success answer that is not what the contract says (a proxy's page, say)."""

    def __init__(self, path: str, model: str, error: Exception) -> None:
        super().__init__(
            f"平台的回答无法识别（{path}），请确认平台地址是否正确",
            f"the answer of {path} is not a {model}: {str(error).splitlines()[0]}",
        )


class HubRefused(HubClientError):
    """The hub refused the request; ``problem`` is its RFC 9457 document."""

    def __init__(self, status: int, problem: Problem, raw: dict[str, Any]) -> None:
        zh = TITLES_ZH.get(status, "平台拒绝了请求" if status < 500 else "平台出错")
        hint = HINTS_ZH.get(problem.detail)
        field = f"; field {problem.field}" if problem.field else ""
        super().__init__(
            f"{zh}：{hint or problem.detail}",
            f"{status} {problem.title}: {problem.detail}{field}",
        )
        self.status, self.problem, self.raw = status, problem, raw

    @property
    def field(self) -> str | None:
        return self.problem.field

    @property
    def detail(self) -> str:
        return self.problem.detail


class BadRequestError(HubRefused):
    pass


class InvalidInputError(BadRequestError):
    pass


class AuthenticationError(HubRefused):
    pass


class ForbiddenError(HubRefused):
    pass


class NotFoundError(HubRefused):
    pass


class ConflictError(HubRefused):
    pass


class PayloadTooLargeError(HubRefused):
    pass


class UnsupportedMediaError(HubRefused):
    pass


class RateLimitedError(HubRefused):
    pass


class UnavailableError(HubRefused):
    pass


_BY_STATUS: dict[int, type[HubRefused]] = {
    400: BadRequestError, 401: AuthenticationError, 403: ForbiddenError, 404: NotFoundError,
    409: ConflictError, 413: PayloadTooLargeError, 415: UnsupportedMediaError,
    422: InvalidInputError, 429: RateLimitedError, 503: UnavailableError,
}  # fmt: skip


def refusal(response: httpx.Response) -> HubRefused:
    """The error for a refused request, from its problem document (or what stands in
    for one: a proxy's HTML 502 page is still an ``UnavailableError``)."""
    status = response.status_code
    raw: dict[str, Any] = {}
    try:
        parsed = response.json()
        raw = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    problem = Problem(
        type=str(raw.get("type", "about:blank")),
        title=str(raw.get("title", response.reason_phrase or "error")),
        status=status,
        detail=str(raw.get("detail", response.text[:200] or response.reason_phrase)),
        field=raw.get("field") if isinstance(raw.get("field"), str) else None,
        instance=raw.get("instance") if isinstance(raw.get("instance"), str) else None,
    )
    cls = _BY_STATUS.get(status) or (UnavailableError if status >= 500 else HubRefused)
    return cls(status, problem, raw)
