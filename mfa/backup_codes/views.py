from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.models import User
from mfa.backup_codes.forms import BackupCodesRegenerateForm
from mfa.models import backup_code_format
from mfa.selectors import mfa_overview_for_user
from mfa.services import backup_codes_regenerate
from teams.proofs import proof_is_fresh, proof_page_redirect

DOWNLOAD_FILENAME = "portcullis-backup-codes.txt"


def backup_codes_shown_once(
    request: HttpRequest, codes: list[str], next_url: str, *, person: User
) -> HttpResponse:
    """The one page that ever shows these codes: the answer to the POST that made them.

    The text-file download is a data: link built into this page, so the codes are never
    stored or served again.
    """
    shown = [backup_code_format(code) for code in codes]
    text = (
        f"Portcullis backup codes for {person.email}\n"
        "Each code works once. Keep them somewhere safe, away from your phone.\n\n"
        + "\n".join(shown)
        + "\n"
    )
    return render(
        request,
        "mfa/backup_codes_new.html",
        {
            "codes": shown,
            "download_href": "data:text/plain;charset=utf-8," + quote(text),
            "download_filename": DOWNLOAD_FILENAME,
            "next": next_url,
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def backup_codes(request: HttpRequest) -> HttpResponse:
    form = BackupCodesRegenerateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not proof_is_fresh(request=request):
            return proof_page_redirect(request, next_url=request.path)
        if form.is_valid():
            try:
                codes = backup_codes_regenerate(
                    request=request,
                    user=request.user,
                    sign_out_others=form.cleaned_data["sign_out_others"],
                )
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                return redirect("mfa:overview")
            return backup_codes_shown_once(
                request, codes, next_url=reverse("mfa:overview"), person=request.user
            )
    return render(
        request,
        "mfa/backup_codes.html",
        {"form": form, "mfa": mfa_overview_for_user(user=request.user)},
    )
