"""API throttles: DRF's own, per signed-in user and per address, with rates read per request.

DRF's throttles read their rates once, when the module is imported; these read
settings.TANDEM_API_RATES on each request, so a change of settings (tests, a reload) applies.
"""

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class PerUser(UserRateThrottle):
    def get_rate(self):
        return settings.TANDEM_API_RATES[self.scope]


class PerAddress(AnonRateThrottle):
    """Requests without a valid token, per client address (token guessing included)."""

    def get_rate(self):
        return settings.TANDEM_API_RATES[self.scope]


class ThrottleFailedSignIns:
    """A view mixin: DRF checks throttles after authentication, so a request with a wrong
    token (a 401) would never count. Here a failed authentication counts against its address
    first, and past the rate the answer is 429, whatever the token."""

    def initial(self, request, *args, **kwargs):
        from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated

        try:
            super().initial(request, *args, **kwargs)
        except (AuthenticationFailed, NotAuthenticated):
            self.check_throttles(request)
            raise
