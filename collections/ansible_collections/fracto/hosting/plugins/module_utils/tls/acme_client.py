# -*- coding: utf-8 -*-
# Copyright: fracto.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACME orders over HTTP-01 with certbot's acme package (python3-acme 2.1), one account per reseller.

A 429/503 of the CA becomes RateLimited (with its Retry-After), any other failure OrderError (str() is the reason,
for the report); check_issued() checks what the CA returned before it is installed.
"""

from __future__ import annotations

import datetime
import json
import os

from ansible_collections.fracto.hosting.plugins.module_utils.files import write_atomic
from ansible_collections.fracto.hosting.plugins.module_utils.tls.crypto import (
    cert_pem,
    dns_names,
    key_pem,
    load_certs,
    load_key,
    make_csr,
    make_key,
    public_der,
)
from ansible_collections.fracto.hosting.plugins.module_utils.tls.deps import (
    acme_client,
    acme_errors,
    challenges,
    jose,
    messages,
    requests,
)
from ansible_collections.fracto.hosting.plugins.module_utils.tls.precheck import USER_AGENT, ensure_challenge_dir
from ansible_collections.fracto.hosting.plugins.module_utils.tls.times import now_utc, parse_retry_after


class RateLimited(Exception):
    """The CA answered 429/503 (or rateLimited): retry after `seconds`."""

    def __init__(self, seconds, detail):
        super().__init__(detail)
        self.seconds = int(seconds)
        self.detail = detail


class OrderError(Exception):
    """An order failed; str() is the reason, for the report."""


def check_issued(fullchain_text, key, names):
    """The CA's answer holds a leaf for our key and exactly our names; return its PEM bytes, normalised."""
    certs = load_certs(fullchain_text, "the certificate returned by the CA")
    leaf = certs[0]
    if public_der(leaf.public_key()) != public_der(key.public_key()):
        raise OrderError("the CA returned a certificate for another key")
    if sorted(dns_names(leaf)) != sorted(names):
        raise OrderError("the CA returned a certificate for other names: %s" % ", ".join(dns_names(leaf)))
    return b"".join(cert_pem(c) for c in certs)


def _network_class():
    class ThrottleAwareNetwork(acme_client.ClientNetwork):
        """Remembers a 429/503 and its Retry-After: acme raises the problem document without the headers."""

        throttled = None

        def _send_request(self, method, url, *args, **kwargs):
            response = super()._send_request(method, url, *args, **kwargs)
            if response.status_code in (429, 503):
                self.throttled = (response.status_code, response.headers.get("Retry-After"))
            return response
    return ThrottleAwareNetwork


class AcmeOrders:
    """Orders over ACME HTTP-01 with certbot's acme package; one account per reseller."""

    def __init__(self, directory_url, account_dir, reseller, contact_email, webroot, timeout=120, now=now_utc):
        self.directory_url = directory_url
        self.account_dir = os.path.join(account_dir, reseller)
        self.contact_email = contact_email
        self.webroot = webroot
        self.timeout = timeout
        self.now = now
        self.jwk = self.regr = self.directory = None
        self.account_changed = False

    def _net(self, account=None):
        return _network_class()(self.jwk, account=account, alg=jose.ES256, user_agent=USER_AGENT, timeout=30)

    def _account_key(self):
        path = os.path.join(self.account_dir, "account.key")
        try:
            with open(path, "rb") as handle:
                return load_key(handle.read(), "account.key")
        except FileNotFoundError:
            pass
        os.makedirs(self.account_dir, mode=0o700, exist_ok=True)
        key = make_key()
        write_atomic(path, key_pem(key), 0o600)
        self.account_changed = True
        return key

    def connect(self):
        """Load or create the account key, then find or register the account (a Pebble restart forgets it)."""
        net = None
        try:
            self.jwk = jose.JWKEC(key=self._account_key())
            net = self._net()
            self.directory = acme_client.ClientV2.get_directory(self.directory_url, net)
            client = acme_client.ClientV2(self.directory, net)
            new = messages.NewRegistration.from_data(email=self.contact_email, terms_of_service_agreed=True)
            recorded = self._read_account()
            try:
                self.regr = client.new_account(new)
            except acme_errors.ConflictError as exc:
                self.regr = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
                net.account = self.regr
                if recorded.get("contact_email") != self.contact_email and self.contact_email:
                    self.regr = client.update_registration(self.regr, messages.Registration.from_data(email=self.contact_email))
            account = {"uri": self.regr.uri, "directory": self.directory_url, "contact_email": self.contact_email}
            if account != recorded:
                write_atomic(os.path.join(self.account_dir, "account.json"),
                             (json.dumps(account, indent=2, sort_keys=True) + "\n").encode("utf-8"), 0o600)
                self.account_changed = True
        except Exception as exc:  # every failure of the account step is reported per certificate
            raise self._translate(exc, net, "ACME account")

    def _read_account(self):
        try:
            with open(os.path.join(self.account_dir, "account.json"), encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def order(self, names, key):
        """Order a certificate for names and key (our ECDSA key); return the full chain as text."""
        net = self._net(self.regr)
        client = acme_client.ClientV2(self.directory, net)
        written = []
        try:
            orderr = client.new_order(make_csr(key, names))
            directory = ensure_challenge_dir(self.webroot)
            for authzr in orderr.authorizations:
                if authzr.body.status == messages.STATUS_VALID:
                    continue
                challb = next((c for c in authzr.body.challenges if isinstance(c.chall, challenges.HTTP01)), None)
                if challb is None:
                    raise OrderError("%s: the CA offers no http-01 challenge" % authzr.body.identifier.value)
                response, validation = challb.response_and_validation(self.jwk)
                path = os.path.join(directory, challb.chall.encode("token"))
                write_atomic(path, validation.encode("ascii"), 0o644)
                written.append(path)
                client.answer_challenge(challb, response)
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=self.timeout)
            return client.poll_and_finalize(orderr, deadline).fullchain_pem
        except OrderError:
            raise
        except Exception as exc:
            raise self._translate(exc, net, "order")
        finally:
            for path in written:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def _translate(self, exc, net, step):
        if isinstance(exc, (RateLimited, OrderError)):
            return exc
        throttled = getattr(net, "throttled", None)
        if throttled or (isinstance(exc, messages.Error) and exc.code == "rateLimited"):
            status, header = throttled or (429, None)
            seconds = parse_retry_after(header, self.now())
            detail = exc.detail if isinstance(exc, messages.Error) and exc.detail else "HTTP %d" % status
            return RateLimited(seconds, "%s: HTTP %d from the CA (%s)" % (step, status, detail))
        if isinstance(exc, acme_errors.ValidationError):
            problems = []
            for authzr in exc.failed_authzrs:
                for chall in authzr.body.challenges:
                    if chall.error is not None:
                        problems.append("%s: %s" % (authzr.body.identifier.value, chall.error.detail or chall.error.typ))
            return OrderError("validation failed: %s" % "; ".join(problems))
        if isinstance(exc, acme_errors.TimeoutError):
            return OrderError("%s: the CA did not finish within %d s" % (step, self.timeout))
        if isinstance(exc, messages.Error):
            return OrderError("%s: %s" % (step, exc.detail or exc.typ))
        if isinstance(exc, requests.RequestException):
            return OrderError("%s: cannot reach the CA (%s)" % (step, exc.__class__.__name__))
        return OrderError("%s: %s" % (step, exc or exc.__class__.__name__))
