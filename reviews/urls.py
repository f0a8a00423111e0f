from django.urls import path

from reviews import views

app_name = "reviews"

urlpatterns = [
    path("access-review/", views.access_review, name="access_review"),
    path("access-review/act/", views.access_review_act, name="access_review_act"),
    path("access-review/done/", views.access_review_done, name="access_review_done"),
]
