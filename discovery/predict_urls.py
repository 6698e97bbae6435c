from django.urls import path

from . import predict_api

app_name = "predict-api"

urlpatterns = [
    path("", predict_api.Predict.as_view(), name="predict"),
    path("relax/", predict_api.RelaxJobs.as_view(), name="relax"),
    path("relax/<int:pk>/", predict_api.RelaxJobDetail.as_view(), name="relax-job"),
]
