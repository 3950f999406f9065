from django.urls import path

from governance.reviews import campaign_views, views

urlpatterns = [
    path("reviews/", views.my_reviews, name="reviews"),
    path("reviews/bulk-certify/", views.bulk_certify, name="reviews-bulk-certify"),
    path("reviews/items/<int:pk>/", views.item_detail, name="reviews-item"),
    path("reviews/items/<int:pk>/decide/", views.decide, name="reviews-item-decide"),
    path("reviews/items/<int:pk>/sign-off/", views.sign_off, name="reviews-item-sign-off"),
    path(
        "reviews/items/<int:pk>/confirm-remediation/",
        views.confirm_remediation,
        name="reviews-item-confirm-remediation",
    ),
    path("reviews/items/<int:pk>/reassign/", campaign_views.item_reassign, name="reviews-item-reassign"),
    path("reviews/campaigns/", campaign_views.campaign_list, name="reviews-campaigns"),
    path("reviews/campaigns/new/", campaign_views.campaign_new, name="reviews-campaign-new"),
    path("reviews/campaigns/<int:pk>/", campaign_views.campaign_detail, name="reviews-campaign"),
    path(
        "reviews/campaigns/<int:pk>/remind/", campaign_views.campaign_remind, name="reviews-campaign-remind"
    ),
    path("reviews/campaigns/<int:pk>/close/", campaign_views.campaign_close, name="reviews-campaign-close"),
    path(
        "reviews/campaigns/<int:pk>/report/", campaign_views.campaign_report, name="reviews-campaign-report"
    ),
    path(
        "reviews/campaigns/<int:pk>/report.csv",
        campaign_views.campaign_report_csv,
        name="reviews-campaign-report-csv",
    ),
]
