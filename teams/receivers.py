from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from teams.services.sessions import session_track


@receiver(user_logged_in, dispatch_uid="teams.session_track")
def track_session(sender, request, user, **kwargs) -> None:
    """Every session that `login()` starts is tracked, whichever way it was started."""
    session_track(request=request, user=user)
